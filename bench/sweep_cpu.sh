#!/usr/bin/env bash
# Client CPU per streamed chunk: six single `tokscope bench` runs against one 6-step sweep
# (--max-concurrency 1,2,4,8,16,32) with the same requests, against `tokscope mock`.
# CPU is user+sys of the client process (/usr/bin/time); chunks come from the mock's
# vllm:generation_tokens_total (one token per chunk), so both sides divide by the same count.
# Usage: bench/sweep_cpu.sh   Environment: TOKSCOPE_BIN (default target/release/tokscope),
# PORT (18735), PROMPTS (200), OUT (64).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TOKSCOPE_BIN:-target/release/tokscope}
PORT=${PORT:-18735}
PROMPTS=${PROMPTS:-200}
OUT=${OUT:-64}
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "error: '$BIN' is not built (cargo build --release)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/sweep_cpu.XXXXXX)
"$BIN" mock --listen "127.0.0.1:$PORT" --ttft-ms 5 --itl-ms 1 --slowdown 0 >/dev/null 2>&1 &
MOCK=$!
trap 'kill $MOCK 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
tokens() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^vllm:generation_tokens_total/ {print $2}'; }
COMMON=(--random-input-len 32 --random-output-len "$OUT" --num-prompts "$PROMPTS" --no-gpu)
cpu() { awk '{s += $1 + $2} END {print s}' "$1"; }
t0=$(tokens)
: > "$WORK/single"
for c in 1 2 4 8 16 32; do
    /usr/bin/time -f "%U %S" -a -o "$WORK/single" "$BIN" bench "http://127.0.0.1:$PORT" "${COMMON[@]}" --max-concurrency "$c" >/dev/null 2>&1
done
t1=$(tokens)
/usr/bin/time -f "%U %S" -o "$WORK/sweep" "$BIN" bench "http://127.0.0.1:$PORT" "${COMMON[@]}" --max-concurrency 1,2,4,8,16,32 --sweep-dir "$WORK/s" >/dev/null 2>&1
t2=$(tokens)
awk -v a="$(cpu "$WORK/single")" -v b="$(cpu "$WORK/sweep")" -v c1="$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')" -v c2="$(awk -v x="$t1" -v y="$t2" 'BEGIN{print y-x}')" 'BEGIN {
    printf "six single runs: %.2f s CPU for %d chunks = %.2f us/chunk\n", a, c1, a / c1 * 1e6
    printf "one 6-step sweep: %.2f s CPU for %d chunks = %.2f us/chunk\n", b, c2, b / c2 * 1e6
}'
