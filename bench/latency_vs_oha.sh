#!/usr/bin/env bash
# How late tokscope's TTFT and E2E are against a server whose timings are known exactly, side
# by side with oha on the same streams.
#
# The mock sends the first token TTFT ms after a request arrives and then one token every ITL
# ms on absolute deadlines, with no batching slowdown, so a request's true E2E is
# TTFT + (TOKENS - 1) x ITL. Each client runs alone on CLIENT_CORE (the mock on MOCK_CORE); the
# "late" columns are the client's mean minus the mock's setting. oha reports only the whole
# response time (the body's end, a few microseconds after the last token: the usage chunk and
# [DONE] follow at once), so its E2E is the comparison; TTFT is compared with the setting.
#
# Usage: bench/latency_vs_oha.sh [--rounds N]
# Environment: TOKSCOPE_BIN (default target/release/tokscope, built if missing), OHA (default
# oha on PATH or ~/.cargo/bin/oha), PORT (18735), MOCK_CORE (0), CLIENT_CORE (1),
# STREAMS (16), TOKENS (128), TTFT_MS (50), ITL_MS (10), REQUESTS (320).
# Not part of CI: it takes a minute or two and its numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
PORT=${PORT:-18735}
MOCK_CORE=${MOCK_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
STREAMS=${STREAMS:-16}
TOKENS=${TOKENS:-128}
TTFT_MS=${TTFT_MS:-50}
ITL_MS=${ITL_MS:-10}
REQUESTS=${REQUESTS:-320}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d /tmp/latency_vs_oha.XXXXXX)

for tool in curl taskset python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: '$tool' is needed" >&2; exit 2; }
done
if [ -z "${TOKSCOPE_BIN:-}" ]; then
    TOKSCOPE_BIN=target/release/tokscope
    echo "building tokscope (release)..." >&2
    cargo build --release --quiet
fi
if [ -z "${OHA:-}" ]; then
    OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
fi
[ -x "$OHA" ] || { echo "error: oha not found at '$OHA' (cargo install oha --locked)" >&2; exit 2; }

MOCK_PID=""
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
taskset -c "$MOCK_CORE" "$TOKSCOPE_BIN" mock --listen "127.0.0.1:$PORT" --ttft-ms "$TTFT_MS" \
    --itl-ms "$ITL_MS" --slowdown 0 --max-num-seqs 0 --output-len "$TOKENS" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done

PROMPT="the quick brown fox jumps over the lazy dog while seven wizards quietly judge boxing matches tonight"
BODY=$(printf '{"model":"tokscope-sim","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"%s"}],"max_completion_tokens":%d,"max_tokens":%d}' "$PROMPT" "$TOKENS" "$TOKENS")

: >"$WORK/rows"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r: oha..." >&2
    taskset -c "$CLIENT_CORE" "$OHA" -m POST -H 'content-type: application/json' -d "$BODY" \
        -n "$REQUESTS" -c "$STREAMS" --no-tui --output-format json "$BASE/v1/chat/completions" \
        >"$WORK/oha-$r.json" 2>"$WORK/oha-$r.err"
    python3 - "$WORK/oha-$r.json" >>"$WORK/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("oha", "nan", d["summary"]["average"] * 1000.0)
PY
    echo "round $r: tokscope bench..." >&2
    taskset -c "$CLIENT_CORE" "$TOKSCOPE_BIN" bench "$BASE" --model tokscope-sim --no-gpu \
        --num-prompts "$REQUESTS" --max-concurrency "$STREAMS" --random-input-len 16 \
        --random-output-len "$TOKENS" --json >"$WORK/tokscope-$r.json" 2>"$WORK/tokscope-$r.err"
    python3 - "$WORK/tokscope-$r.json" >>"$WORK/rows" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("tokscope", d["mean_ttft_ms"], d["mean_e2el_ms"])
PY
done

python3 - "$WORK/rows" "$TTFT_MS" "$ITL_MS" "$TOKENS" "$ROUNDS" <<'PY'
import statistics, sys
rows, ttft, itl, tokens, rounds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
e2e = ttft + (tokens - 1) * itl
by = {}
for line in open(rows):
    tool, t, e = line.split()
    by.setdefault(tool, []).append((float(t), float(e)))
print(f"\nmock: TTFT {ttft:g} ms, ITL {itl:g} ms, {tokens} tokens -> E2E {e2e:g} ms; median of {rounds} rounds\n")
print("| tool     | mean TTFT late (ms) | mean E2E late (ms) |")
print("|----------|--------------------:|-------------------:|")
for tool in ("tokscope", "oha"):
    v = by.get(tool, [])
    t = statistics.median(x[0] for x in v) - ttft if tool == "tokscope" else float("nan")
    e = statistics.median(x[1] for x in v) - e2e
    ts = "n/a (oha has no TTFT)" if t != t else f"{t:.2f}"
    print(f"| {tool:<8} | {ts:>19} | {e:>18.2f} |")
PY
echo
echo "logs: $WORK"
