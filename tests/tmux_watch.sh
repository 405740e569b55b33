#!/usr/bin/env bash
# End-to-end test of `tokscope watch` in a real terminal: `tokscope bench` loads the simulator
# from one process while `tokscope watch` (in tmux) reads the simulator's /metrics from
# another. The token rate watch saw must agree with the rate bench measured within 5%; `s`
# writes the per-second series and a picture of the screen at 160x48 and 80x24; `q` restores
# the terminal and leaves a result file.
#
# Usage: tests/tmux_watch.sh      (uses target/debug/tokscope; TOKSCOPE_BIN=... for another)
# Needs tmux and python3. Ends with a line 'N passed, N failed'; exits non-zero on failure.
# Pictures stay in $TOKSCOPE_WATCH_OUT when set (for looking at them as PNGs).

set -u
cd "$(dirname "$0")/.."
BIN=${TOKSCOPE_BIN:-target/debug/tokscope}
if [[ ! -x $BIN ]]; then
    cargo build --quiet || { echo "0 passed, 1 failed"; exit 1; }
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
SOCK="tokscope-watch-test-$$"
T=(tmux -L "$SOCK" -f /dev/null)
WAIT=${TOKSCOPE_TMUX_WAIT:-20}
PASSED=0
FAILED=0
MOCK_PID=""
WORK=$(mktemp -d)
OUT=${TOKSCOPE_WATCH_OUT:-$WORK}
mkdir -p "$OUT"
TGT=watch

cleanup() {
    "${T[@]}" kill-server 2>/dev/null
    if [[ -n $MOCK_PID ]]; then kill "$MOCK_PID" 2>/dev/null; wait "$MOCK_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
screen() { "${T[@]}" capture-pane -p -t "$TGT" 2>/dev/null; }
pass() { PASSED=$((PASSED + 1)); echo "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1"; screen | sed 's/^/    /'; }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
wait_for() {
    local deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do screen | grep -qF -- "$1" && return 0; sleep 0.1; done
    return 1
}
wait_until() {
    local deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.1; done
    return 1
}
fmt() { "${T[@]}" display-message -p -t "$TGT" "$1" 2>/dev/null; }
restored() { [[ $(fmt '#{alternate_on}') == 0 && $(fmt '#{cursor_flag}') == 1 ]]; }

"$BIN" mock --listen 127.0.0.1:0 --ttft-ms 40 --itl-ms 10 --output-len 128 >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
mock_port() { PORT=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/mock.log" | head -n1 | sed 's/.*://'); [[ -n $PORT ]]; }
wait_until mock_port || { echo "the mock did not start"; echo "0 passed, 1 failed"; exit 1; }
URL="http://127.0.0.1:$PORT"

# watch starts first, in its own terminal, before any load.
"${T[@]}" new-session -d -s "$TGT" -x 160 -y 48 \
    "cd '$WORK' && '$BIN' watch '$URL' --no-gpu --result-filename watch.json; echo exit=\$?; sleep 60"
START=$(date +%s.%N)
check "watch: the screen opens and names the server" wait_for "vllm"
check "watch: it says how fresh its reading is" wait_for "read "
OPENED=$(python3 -c "import time; print(f'{time.time() - $START:.2f}')")
echo "     (screen up after ${OPENED} s, mock already running)"

# The load, from another process.
"$BIN" bench "$URL" --no-gpu --duration 12 --max-concurrency 16 --random-input-len 128 \
    --random-output-len 128 --save-result --result-dir "$WORK" --result-filename bench.json \
    >"$WORK/bench.out" 2>"$WORK/bench.err"
check "bench: finished" test -s "$WORK/bench.json"
sleep 2.5   # two more scrapes, so the watch has seen the end of the load
check "watch: the latency pane shows the server's TTFT" wait_for "TTFT"
"${T[@]}" send-keys -t "$TGT" s
check "watch: 's' says where it saved" wait_for "saved watch.json"
cp "$WORK/watch.screen.svg" "$OUT/watch-160x48.svg" 2>/dev/null
"${T[@]}" resize-window -t "$TGT" -x 80 -y 24
sleep 1.5
"${T[@]}" send-keys -t "$TGT" s
sleep 1
cp "$WORK/watch.screen.svg" "$OUT/watch-80x24.svg" 2>/dev/null
cp "$WORK/watch.screen.txt" "$OUT/watch-80x24.txt" 2>/dev/null
check "watch: 80x24 still shows the three panes" wait_for "Queue and cache"
"${T[@]}" send-keys -t "$TGT" q
check "watch: q exits 0" wait_for "exit=0"
check "watch: the terminal is restored" restored

# The steady-state token rate: the seconds inside the load (first and last edge dropped) of
# each side's own series.
RATES=$(python3 - "$WORK/bench.json" "$WORK/watch.json" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
watch = json.load(open(sys.argv[2]))
b = [s["output_tokens"] for s in bench["tokscope"]["per_second"]]
b = b[2:-2]
pts = [p for p in watch["tokscope"]["server_series"] if (p.get("generation_tok_s") or 0) > 0]
w = [p["generation_tok_s"] for p in pts][2:-2]
print(f"{sum(b)/len(b):.1f} {sum(w)/len(w):.1f} {bench['tokscope']['received']['output_tokens']} {watch['tokscope']['server']['generation_tokens']:.0f}")
PY
)
read -r BENCH_RATE WATCH_RATE BENCH_TOKENS WATCH_TOKENS <<<"$RATES"
echo "     bench ${BENCH_RATE} tok/s, watch ${WATCH_RATE} tok/s; tokens ${BENCH_TOKENS} vs ${WATCH_TOKENS}"
within() { awk -v v="$1" -v w="$2" -v p="$3" 'BEGIN { d = v - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'; }
check "watched token rate within 5% of bench's" within "$WATCH_RATE" "$BENCH_RATE" 5
# The server also counted bench's probe request (at most 16 tokens), sent before its run.
probe_only() { local d=$((WATCH_TOKENS - BENCH_TOKENS)); ((d >= 0 && d <= 16)); }
check "watched tokens: what bench received, plus its probe" probe_only
check "the result file holds the series" test -s "$WORK/watch.json"

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
