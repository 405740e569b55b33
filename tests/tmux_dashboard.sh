#!/usr/bin/env bash
# End-to-end test of the dashboard in a real terminal: tmux runs the binary, keys are sent by
# name, the screen is read back with capture-pane, and after quitting the terminal must be
# restored (alternate screen off, cursor shown, the shell prompt back).
#
# Usage: tests/tmux_dashboard.sh            (uses target/debug/tokscope, building it if needed)
#        TOKSCOPE_BIN=path/to/tokscope tests/tmux_dashboard.sh
# Ends with a line 'N passed, N failed'; exits non-zero when anything failed.
# Waits poll the screen (every 0.1 s, up to a deadline); there are no blind sleeps.

set -u
cd "$(dirname "$0")/.."

BIN=${TOKSCOPE_BIN:-target/debug/tokscope}
if [[ ! -x $BIN ]]; then
    cargo build --quiet || { echo "0 passed, 1 failed"; exit 1; }
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if ! command -v tmux >/dev/null; then
    echo "tmux is not installed: apt-get install tmux"
    echo "0 passed, 1 failed"
    exit 1
fi

SOCK="tokscope-test-$$"
T=(tmux -L "$SOCK" -f /dev/null)
PROMPT='tokscope-test$ '
WAIT=${TOKSCOPE_TMUX_WAIT:-20}   # seconds allowed for each thing to appear
PASSED=0
FAILED=0
MOCK_PID=""
WORK=$(mktemp -d)

cleanup() {
    "${T[@]}" kill-server 2>/dev/null
    if [[ -n $MOCK_PID ]]; then kill "$MOCK_PID" 2>/dev/null; wait "$MOCK_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $1"
    echo "---- screen ----"
    screen | sed 's/^/    /'
    echo "----------------"
}
TGT=""   # the current session; each scenario gets a fresh one
screen() { "${T[@]}" capture-pane -p -t "$TGT" 2>/dev/null; }
fmt() { "${T[@]}" display-message -p -t "$TGT" "$1" 2>/dev/null; }
keys() { "${T[@]}" send-keys -t "$TGT" "$@"; }

# wait_for TEXT: poll the screen until TEXT (fixed string) shows up.
wait_for() {
    local deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
# wait_until CMD...: poll until a shell command succeeds.
wait_until() {
    local deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
check() { # check NAME CMD...
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# The first 'output now X' figure on screen, digits only (empty when none yet).
output_tps() { screen | grep -o 'output *now *[0-9][0-9,.]*' | head -n1 | grep -o '[0-9][0-9,.]*$' | tr -d ,; }
tps_nonzero() { local v; v=$(output_tps); [[ -n $v ]] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; }
restored() { [[ $(fmt '#{alternate_on}') == 0 && $(fmt '#{cursor_flag}') == 1 ]]; }
not_simulated() { ! screen | grep -qF SIMULATED; }
prompt_back() { screen | grep -v '^$' | tail -n1 | grep -qF -- "${PROMPT% }"; }

SESSIONS=0
start_shell() { # start_shell WIDTH HEIGHT
    # A new session beside the old one (killing the server first races with its exit).
    local old=$TGT
    SESSIONS=$((SESSIONS + 1))
    TGT="s$SESSIONS"
    "${T[@]}" new-session -d -s "$TGT" -x "$1" -y "$2" \
        "env -i HOME=\"$WORK\" PATH=\"$PATH\" TERM=screen-256color COLORTERM=truecolor PS1='$PROMPT' bash --norc --noprofile"
    "${T[@]}" set-option -t "$TGT" status off >/dev/null
    if [[ -n $old ]]; then "${T[@]}" kill-session -t "$old" 2>/dev/null; fi
    wait_until prompt_back
}

# 1. The built-in simulator: no URL at all.
start_shell 120 40
keys "cd '$WORK' && '$BIN' --max-concurrency 2" Enter
check "simulator: the dashboard opens, marked SIMULATED" wait_for "SIMULATED"
check "simulator: tokens/s above zero" wait_until tps_nonzero
check "simulator: concurrency cap 2 shown" wait_for "of 2 max"
keys +
check "simulator: '+' raises the cap to 3" wait_for "of 3 max"
keys Space
check "simulator: space pauses" wait_for "PAUSED"
keys Space
check "simulator: space resumes" wait_for "RUNNING"
"${T[@]}" resize-window -t "$TGT" -x 80 -y 24
check "simulator: redraws at 80x24 (short key labels)" wait_for "+/- conc"
keys q
check "simulator: q restores the terminal" wait_until restored
check "simulator: q gives the shell prompt back" wait_until prompt_back
keys 'echo "exit=$?"' Enter
check "simulator: exit status 0" wait_for "exit=0"

# 2. Against `tokscope mock` over HTTP on 127.0.0.1.
PORT=$(( (RANDOM % 20000) + 30000 ))
"$BIN" mock --listen "127.0.0.1:$PORT" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
mock_up() { curl -fsS "http://127.0.0.1:$PORT/v1/models" >"$WORK/models.json" 2>/dev/null; }
if wait_until mock_up; then
    pass "mock: serves /v1/models on 127.0.0.1:$PORT"
    MODEL=$(grep -o '"id" *: *"[^"]*"' "$WORK/models.json" | head -n1 | sed 's/.*: *"//; s/"$//')
    start_shell 120 40
    keys "cd '$WORK' && '$BIN' http://127.0.0.1:$PORT --max-concurrency 2" Enter
    check "mock: header names the model '$MODEL'" wait_for "$MODEL"
    check "mock: tokens/s above zero" wait_until tps_nonzero
    check "mock: not marked SIMULATED" not_simulated
    keys +
    check "mock: '+' raises the cap to 3" wait_for "of 3 max"
    keys Space
    check "mock: space pauses" wait_for "PAUSED"
    keys q
    check "mock: q restores the terminal" wait_until restored
    check "mock: q gives the shell prompt back" wait_until prompt_back

    # SIGTERM to the dashboard (found as the child of the pane's shell) restores too.
    keys "'$BIN' http://127.0.0.1:$PORT --max-concurrency 2" Enter
    if wait_until tps_nonzero; then
        SHELL_PID=$(fmt '#{pane_pid}')
        DASH_PID=$(pgrep -P "$SHELL_PID" | head -n1)
        if [[ -n $DASH_PID ]]; then kill -TERM "$DASH_PID"; fi
        check "mock: SIGTERM restores the terminal" wait_until restored
        check "mock: SIGTERM gives the shell prompt back" wait_until prompt_back
    else
        fail "mock: dashboard for the SIGTERM test did not start"
    fi
else
    fail "mock: 'tokscope mock' did not come up on 127.0.0.1:$PORT (log: $(head -c 300 "$WORK/mock.log"))"
fi

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
