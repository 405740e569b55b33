#!/usr/bin/env bash
# End-to-end test of the dashboard in a real terminal: tmux runs the binary, keys are sent by
# name, the screen is read back with capture-pane, and numbers read off it are checked against
# what the simulator was told. After quitting, the terminal must be restored (alternate screen
# off, cursor shown, the shell prompt back), the end-of-run summary printed, the result file
# written with the same figures, and the exit status what the code promises.
#
# Usage: tests/tmux_dashboard.sh            (uses target/debug/tokscope, building it if needed)
#        TOKSCOPE_BIN=path/to/tokscope tests/tmux_dashboard.sh   (CI: the release binary)
# Needs tmux, cc (a fake NVML library gives the GPU pane known readings) and python3 (reads
# the result file). Ends with a line 'N passed, N failed'; exits non-zero when anything failed.
# Waits poll the screen (every 0.1 s, up to a deadline); the only fixed pauses are the spacing
# between samples of a rate, which must hold on several readings, not one lucky one.

set -u
cd "$(dirname "$0")/.."

BIN=${TOKSCOPE_BIN:-target/debug/tokscope}
if [[ ! -x $BIN ]]; then
    cargo build --quiet || { echo "0 passed, 1 failed"; exit 1; }
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
for tool in tmux cc python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "$tool is not installed (.ci/run installs it)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done

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
# The screen and what scrolled off it (the summary is longer than the terminal).
history() { "${T[@]}" capture-pane -p -J -S -1000 -t "$TGT" 2>/dev/null; }
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
# within VALUE WANT PERCENT: VALUE is a number within PERCENT % of WANT.
within() { [[ -n $1 ]] && awk -v v="$1" -v w="$2" -v p="$3" 'BEGIN { d = v - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'; }

# The first 'output now X' figure on screen, digits only (empty when none yet).
output_tps() { screen | grep -o 'output *now *[0-9][0-9,.]*' | head -n1 | grep -o '[0-9][0-9,.]*$' | tr -d ,; }
tps_nonzero() { local v; v=$(output_tps); [[ -n $v ]] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; }
# Seconds on the header's clock (m:ss).
elapsed() { screen | head -n1 | grep -o '│ [0-9]*:[0-9][0-9]' | head -n1 | awk -F'[ :]' '{ print $2 * 60 + $3 }'; }
elapsed_at_least() { local e; e=$(elapsed); [[ -n $e ]] && ((e >= $1)); }
restored() { [[ $(fmt '#{alternate_on}') == 0 && $(fmt '#{cursor_flag}') == 1 ]]; }
not_simulated() { ! screen | grep -qF SIMULATED; }
prompt_back() { screen | grep -v '^$' | tail -n1 | grep -qF -- "${PROMPT% }"; }
not_on_screen() { ! screen | grep -qF -- "$1"; }
last_line() { screen | grep -v '^$' | tail -n1; }
# The widest line on screen in characters (awk may count bytes of the box-drawing ones).
widest_line() { screen | python3 -c 'import sys; print(max((len(l.rstrip("\n")) for l in sys.stdin), default=0))'; }
in_history() { history | grep -qF -- "$1"; }
# The number after LABEL in the printed summary.
summary_figure() { history | grep -F -- "$1" | tail -n1 | awk '{ print $NF }'; }
# exit_status_is N: ask the shell for $? and look for the answer.
exit_status_is() {
    keys "echo \"exit=\$?\"" Enter
    wait_for "exit=$1"
}

SESSIONS=0
start_shell() { # start_shell WIDTH HEIGHT
    # A new session beside the old one (killing the server first races with its exit).
    local old=$TGT
    SESSIONS=$((SESSIONS + 1))
    TGT="s$SESSIONS"
    "${T[@]}" new-session -d -s "$TGT" -x "$1" -y "$2" \
        "env -i HOME=\"$WORK\" PATH=\"$PATH\" TERM=screen-256color COLORTERM=truecolor PS1='$PROMPT' bash --norc --noprofile"
    "${T[@]}" set-option -t "$TGT" status off >/dev/null
    "${T[@]}" set-option -t "$TGT" history-limit 5000 >/dev/null
    if [[ -n $old ]]; then "${T[@]}" kill-session -t "$old" 2>/dev/null; fi
    wait_until prompt_back
}

# 1. The built-in simulator: no URL at all.
mkdir -p "$WORK/sim"
start_shell 120 40
keys "cd '$WORK/sim' && '$BIN' --max-concurrency 2" Enter
check "simulator: the dashboard opens, marked SIMULATED" wait_for "SIMULATED"
check "simulator: tokens/s above zero" wait_until tps_nonzero
check "simulator: concurrency cap 2 shown" wait_for "in flight  2 of 2 max"
side_boxed() { screen | grep -qF '┌ Server' && screen | grep -qF '╭ 4 Client (this process)'; }
check "simulator: the side panel boxes the server and the client" wait_until side_boxed
check "simulator: 120 columns show the long key labels" wait_for "+/- concurrency"
keys +
check "simulator: '+' raises the cap to 3" wait_for "of 3 max"
keys Space
check "simulator: space pauses" wait_for "PAUSED"
keys Space
check "simulator: space resumes" wait_for "RUNNING"
"${T[@]}" resize-window -t "$TGT" -x 80 -y 24
# Only a redrawn screen passes: at 80 columns the footer has the short labels and no long
# one, the side panel is a strip of lines (no Client box), and nothing is wider than 80.
folded() {
    last_line | grep -qF '+/- conc ]/[ rate' && ! last_line | grep -qF 'concurrency' &&
        screen | grep -q '^client CPU' && not_on_screen '4 Client' && (($(widest_line) <= 80))
}
check "simulator: redraws at 80x24 (short key labels, side panel folded)" wait_until folded
keys q
check "simulator: q restores the terminal" wait_until restored
check "simulator: q gives the shell prompt back" wait_until prompt_back
check "simulator: q exits with status 0" exit_status_is 0

# 2. Against `tokscope mock` on 127.0.0.1 with a known speed: TTFT = ITL = 20 ms and no
#    batching slowdown, so each stream makes 50 tokens/s and 4 streams 200. A fake NVML library
#    gives the GPU pane known readings and writes a line to stderr, which must stay off the
#    screen while the dashboard runs and come back after.
# Port 0: the system picks a free one (a guessed port may be taken by another run); the
# simulator's first line names its URL.
"$BIN" mock --listen 127.0.0.1:0 --ttft-ms 20 --itl-ms 20 --slowdown 0 >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
mock_port() { PORT=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/mock.log" | head -n1 | sed 's/.*://'); [[ -n $PORT ]]; }
PORT=""
wait_until mock_port
cc -shared -fPIC -O0 -o "$WORK/libnvidia-ml.so.1" tests/fakes/fake_nvml.c
NOISE="fake-nvml: a line a GPU library wrote to stderr"
mock_up() { python3 -c "import urllib.request as u; open('$WORK/models.json','wb').write(u.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=2).read())" 2>/dev/null; }
if wait_until mock_up; then
    pass "mock: serves /v1/models on 127.0.0.1:$PORT"
    MODEL=$(python3 -c "import json; print(json.load(open('$WORK/models.json'))['data'][0]['id'])")
    CONC=4
    OUT_LEN=200
    WANT_TPS=$((CONC * 1000 / 20))
    mkdir -p "$WORK/mock"
    start_shell 120 40
    keys "cd '$WORK/mock' && TOKSCOPE_NVML_LIB='$WORK/libnvidia-ml.so.1' FAKE_NVML_STDERR='$NOISE' '$BIN' http://127.0.0.1:$PORT --max-concurrency $CONC --random-output-len $OUT_LEN --random-input-len 2000" Enter
    check "mock: header names the model '$MODEL'" wait_for "$MODEL"
    check "mock: not marked SIMULATED" not_simulated
    # The rate: after the first seconds, three readings a second apart, each within 10%.
    rate_holds() {
        local i v
        for i in 1 2 3; do
            v=$(output_tps)
            if ! within "$v" "$WANT_TPS" 10; then
                echo "     output now '$v' tok/s, want $WANT_TPS ±10% (reading $i)"
                return 1
            fi
            sleep 1.1
        done
        echo "     output now $v tok/s, want $WANT_TPS ±10%"
    }
    wait_until elapsed_at_least 4
    check "mock: output tok/s within 10% of $CONC streams x 1000/20 ms = $WANT_TPS" rate_holds
    # Usage arrives only at the end of each stream and the prompts are long (2,000 tokens,
    # bursts of 8,000 prefill tokens a second): the output chart keeps its own scale, its top
    # at most 3x the output peak (one shared axis would put it at 10,000).
    output_scale() { screen | awk '/■ output/ { f = 1; next } f && match($0, /││ *[0-9][0-9,.]*│/) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9.]/, "", s); print s; exit }'; }
    output_peak() { screen | grep -o 'output *now *[0-9,.]* *mean *[0-9,.]* *peak *[0-9,.]*' | head -n1 | grep -o '[0-9][0-9,.]*$' | tr -d ,; }
    scale_fits() {
        local top peak
        top=$(output_scale)
        peak=$(output_peak)
        echo "     output chart tops at '$top' tok/s, output peak '$peak'"
        [[ -n $top && -n $peak ]] && awk -v t="$top" -v p="$peak" 'BEGIN { exit !(t >= p && t <= 3 * p) }'
    }
    check "mock: the output chart's scale stays within 3x of the output peak" scale_fits
    check "mock: the server pane shows the $CONC requests it runs" wait_for "vllm run $CONC wait 0"
    fake_gpu_shown() { screen | grep -qF '0 A100 80GB PCIe' && screen | grep -qF 'pwr 250/300W'; }
    check "mock: the GPU pane shows the fake A100 at 250 of 300 W" wait_until fake_gpu_shown
    check "mock: a library's stderr stays off the screen" not_on_screen "$NOISE"
    keys q
    check "mock: q restores the terminal" wait_until restored
    check "mock: q gives the shell prompt back" wait_until prompt_back
    check "mock: q exits with status 0" exit_status_is 0
    check "mock: the held stderr line is shown after the dashboard" in_history "$NOISE"
    summary_printed() { history | grep -qF '============ Serving Benchmark Result ============'; }
    check "mock: the end-of-run summary is printed" summary_printed
    # The result file holds the summary's figures, and they agree with each other.
    result_matches() {
        local file ok_n out_tps
        file=$(ls "$WORK"/mock/*.json 2>/dev/null | head -n1)
        ok_n=$(summary_figure "Successful requests:")
        out_tps=$(summary_figure "Output token throughput (tok/s):")
        [[ -n $file && -n $ok_n && -n $out_tps ]] || { echo "     no result file or summary ($file, $ok_n, $out_tps)"; return 1; }
        python3 - "$file" "$ok_n" "$out_tps" "$OUT_LEN" "$CONC" <<'PY'
import json, sys
path, ok_n, out_tps, out_len, conc = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
v = json.load(open(path))
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
want(v["completed"] == ok_n >= 1, f"completed {v['completed']}, summary says {ok_n}")
want(v["failed"] == 0, f"failed {v['failed']}")
want(v["total_output_tokens"] == ok_n * out_len, f"output tokens {v['total_output_tokens']} for {ok_n} x {out_len}")
want(abs(v["output_throughput"] - out_tps) <= 0.005 + 1e-9, f"output_throughput {v['output_throughput']}, summary {out_tps}")
want(abs(v["output_throughput"] * v["duration"] - v["total_output_tokens"]) < 1e-6 * v["total_output_tokens"] + 1e-6,
     "output_throughput x duration != total_output_tokens")
want(v["max_concurrent_requests"] == conc, f"max_concurrent_requests {v['max_concurrent_requests']}")
want(v["max_concurrency"] == conc, f"max_concurrency {v['max_concurrency']}")
print(f"     {path.split('/')[-1]}: completed {v['completed']}, {v['total_output_tokens']} tokens, {v['output_throughput']:.2f} tok/s")
for p in problems:
    print("     " + p)
sys.exit(1 if problems else 0)
PY
    }
    check "mock: the result file's figures match the summary" result_matches

    # SIGTERM to the dashboard (found as the child of the pane's shell): the terminal is
    # restored, the summary printed and the result written, as on q, with status 143 as a
    # shell reports a SIGTERM (bench gives the same).
    SIGTERM_STATUS=143
    mkdir -p "$WORK/term"
    keys "clear" Enter
    "${T[@]}" clear-history -t "$TGT"
    keys "cd '$WORK/term' && '$BIN' http://127.0.0.1:$PORT --max-concurrency 2 --random-output-len 20" Enter
    if wait_until tps_nonzero; then
        SHELL_PID=$(fmt '#{pane_pid}')
        DASH_PID=$(pgrep -P "$SHELL_PID" | head -n1)
        if [[ -n $DASH_PID ]]; then kill -TERM "$DASH_PID"; fi
        check "mock: SIGTERM restores the terminal" wait_until restored
        check "mock: SIGTERM gives the shell prompt back" wait_until prompt_back
        check "mock: SIGTERM exits with status $SIGTERM_STATUS" exit_status_is "$SIGTERM_STATUS"
        check "mock: SIGTERM prints the summary" in_history "Successful requests:"
        term_result() { compgen -G "$WORK/term/*.json" >/dev/null; }
        check "mock: SIGTERM writes the result file" term_result
    else
        fail "mock: dashboard for the SIGTERM test did not start"
    fi
    # A three-step sweep in the dashboard: each finished step becomes a row of the sweep pane,
    # the header says where the sweep stands, `e` ends it after the step in progress, `s`
    # writes the screen and the sweep's files into its folder, and the folder holds one
    # result per step run and the vLLM-style summary.
    mkdir -p "$WORK/sweep"
    start_shell 80 24
    keys "cd '$WORK/sweep' && '$BIN' http://127.0.0.1:$PORT --max-concurrency 1,2,4 --num-prompts 8 --random-output-len 20 --sweep-dir sw" Enter
    check "sweep: the header says step 1 of 3" wait_for "Sweep step 1 of 3"
    check "sweep: the footer shows the sweep's keys" wait_for "n next e end"
    check "sweep: step 2 starts" wait_for "step 2 of 3"
    step_row() { screen | grep -qE "^│ +$1 +[0-9.]+ +[0-9]+/[0-9]+ "; }
    check "sweep: the first step is a row of the sweep pane (80x24)" wait_until step_row 1
    check "sweep: step 3 starts" wait_for "step 3 of 3"
    keys e
    check "sweep: e says the sweep ends after this step" wait_for "the sweep ends after this step"
    check "sweep: the sweep ends by itself after step 3" wait_for "Sweep done"
    keys s
    saved_svg() { [[ -s $WORK/sweep/sw/sweep.screen.svg ]]; }
    check "sweep: s writes the screen into the sweep folder" wait_until saved_svg
    keys q
    check "sweep: q restores the terminal" wait_until restored
    check "sweep: q exits with status 0" exit_status_is 0
    check "sweep: the table of steps is printed" in_history "max_concurrency=4"
    sweep_files() {
        python3 - "$WORK/sweep/sw" <<'PY'
import csv, json, os, sys
d = sys.argv[1]
rows = json.load(open(os.path.join(d, "summary.json")))
conc = sorted(r["max_concurrency"] for r in rows)
ok = conc == [1, 2, 4] and all(r["completed"] == 8 for r in rows)
ok &= all(os.path.exists(os.path.join(d, f"BENCH--max_concurrency={c}", "run=0.json")) for c in conc)
with open(os.path.join(d, "summary.csv")) as f:
    ok &= len(list(csv.DictReader(f))) == 3
print(f"     summary.json: max_concurrency {conc}, completed {[r['completed'] for r in rows]}")
sys.exit(0 if ok else 1)
PY
    }
    check "sweep: the folder holds three steps and the summary" sweep_files

    # A lost terminal (tmux kill-session), SIGINT and SIGHUP from outside are checked in
    # tests/dashboard_terminal.rs (process gone within 2 s, result written, exit codes).
else
    fail "mock: 'tokscope mock' did not come up on 127.0.0.1:${PORT:-?} (log: $(head -c 300 "$WORK/mock.log"))"
fi

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
