#!/usr/bin/env bash
# Soak: `tokscope bench` holding 500 streams against `tokscope mock` for a long time, sampling
# the bench process's memory (VmRSS) and CPU every few seconds into a CSV, then printing
# min/median/max and whether memory grew over the run. A leak, or anything that grows with the
# number of requests served (rather than with concurrency), shows up as a rising RSS.
#
# Usage: bench/soak.sh [--minutes M] [--streams N] [--interval S] [--csv FILE]
#   --minutes M   length of the run (default 30)
#   --streams N   concurrent streams (default 500)
#   --interval S  seconds between samples (default 5)
#   --csv FILE    where the samples go (default target/soak-<date>.csv)
# Environment: TOKSCOPE_BIN (default target/release/tokscope, built if missing), PORT (18735).
# Growth verdict: the median RSS of the last quarter of the samples against the first quarter's
# (the first 10% skipped as warm-up); "grew" when it rose by more than 10% and 8 MiB.
# Not part of CI: it runs for half an hour by default.
set -euo pipefail

cd "$(dirname "$0")/.."

MINUTES=30
STREAMS=500
INTERVAL=5
CSV="target/soak-$(date +%Y%m%d-%H%M%S).csv"
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES="$2"; shift 2 ;;
        --streams) STREAMS="$2"; shift 2 ;;
        --interval) INTERVAL="$2"; shift 2 ;;
        --csv) CSV="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$MINUTES" "$STREAMS" "$INTERVAL"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "'$v': --minutes, --streams and --interval take whole numbers" >&2; exit 2; }
done
BIN="${TOKSCOPE_BIN:-target/release/tokscope}"
PORT="${PORT:-18735}"
if [ ! -x "$BIN" ]; then
    cargo build --release
fi
TICK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
MOCK_PID=""
BENCH_PID=""
cleanup() {
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The simulator: no batch limit (every stream runs), no slowdown, ~5 s per request.
"$BIN" mock --listen "127.0.0.1:$PORT" --max-num-seqs 0 --slowdown 0 --ttft-ms 50 --itl-ms 20 \
    >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
for _ in $(seq 100); do
    grep -q "http://" "$WORK/mock.out" 2>/dev/null && break
    sleep 0.1
done
grep -q "http://" "$WORK/mock.out" || { echo "the mock did not start:"; cat "$WORK/mock.err"; exit 1; }

"$BIN" bench "http://127.0.0.1:$PORT" --max-concurrency "$STREAMS" --duration "$((MINUTES * 60))" \
    --random-input-len 64 --random-output-len 256 --json >"$WORK/result.json" 2>"$WORK/bench.err" &
BENCH_PID=$!

# utime + stime of a process, in clock ticks; its VmRSS in KiB.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo ""; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""; }

mkdir -p "$(dirname "$CSV")"
echo "t_s,bench_rss_kib,bench_cpu_pct,mock_rss_kib,mock_cpu_pct" >"$CSV"
START=$(date +%s.%N)
prev_b=$(ticks "$BENCH_PID"); prev_m=$(ticks "$MOCK_PID"); prev_t=$START
echo "soak: $STREAMS streams for $MINUTES min, a sample every $INTERVAL s into $CSV"
while kill -0 "$BENCH_PID" 2>/dev/null; do
    sleep "$INTERVAL"
    now=$(date +%s.%N)
    b=$(ticks "$BENCH_PID"); m=$(ticks "$MOCK_PID")
    rb=$(rss "$BENCH_PID"); rm_=$(rss "$MOCK_PID")
    [ -z "$b" ] || [ -z "$rb" ] && break
    awk -v t="$now" -v s="$START" -v pt="$prev_t" -v b="$b" -v pb="$prev_b" -v m="$m" -v pm="$prev_m" \
        -v rb="$rb" -v rm="$rm_" -v hz="$TICK" 'BEGIN {
            dt = t - pt; if (dt <= 0) dt = 1;
            printf "%.1f,%d,%.1f,%d,%.1f\n", t - s, rb, (b - pb) / hz / dt * 100, rm, (m - pm) / hz / dt * 100
        }' >>"$CSV"
    prev_b=$b; prev_m=$m; prev_t=$now
done
code=0
wait "$BENCH_PID" || code=$?
BENCH_PID=""

# Column statistics: min, median, max of column $1 (rows after the header).
stats() {
    tail -n +2 "$CSV" | cut -d, -f"$1" | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "n/a"; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
              printf "min %s, median %s, max %s", v[1], m, v[NR] }'
}
n=$(( $(wc -l <"$CSV") - 1 ))
echo
echo "bench exit code $code; $n samples"
for key in completed failed output_throughput; do
    # The first occurrence is the run's own (per-second buckets repeat `failed` later).
    grep -oE "\"$key\": [0-9.e+-]+" "$WORK/result.json" | head -n 1 | tr '\n' ' ' || true
done
echo
echo "bench RSS (KiB):  $(stats 2)"
echo "bench CPU (%):    $(stats 3)   (100 = one core)"
echo "mock  RSS (KiB):  $(stats 4)"
echo "mock  CPU (%):    $(stats 5)"
# Growth: median of the last quarter against the first quarter, after a 10% warm-up.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
skip=$(( n / 10 )); q=$(( (n - skip) / 4 ))
if [ "$q" -lt 1 ]; then
    echo "RSS growth: too few samples to tell"
else
    first=$(tail -n +2 "$CSV" | cut -d, -f2 | head -n $(( skip + q )) | tail -n "$q" | median)
    last=$(tail -n +2 "$CSV" | cut -d, -f2 | tail -n "$q" | median)
    awk -v a="$first" -v b="$last" 'BEGIN {
        grew = (b > a * 1.10 && b - a > 8192) ? "GREW" : "flat";
        printf "RSS growth: first-quarter median %d KiB, last-quarter median %d KiB (%+.1f%%): %s\n",
            a, b, (b - a) * 100 / a, grew
    }'
fi
if [ -s "$WORK/bench.err" ] && grep -qi "error\|panic" "$WORK/bench.err"; then
    echo "bench stderr:"; grep -i "error\|panic" "$WORK/bench.err" | head -5
fi
exit "$code"
