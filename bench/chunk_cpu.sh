#!/usr/bin/env bash
# Client CPU per streamed chunk: `tokscope bench` against `oha` on the same streams.
#
# Both clients read the same streaming endpoint of `tokscope mock` with the same kind of request
# body. oha reads each body to the end and parses nothing, so its CPU per chunk is the floor for
# an HTTP client on this machine; tokscope also splits SSE events, parses every JSON chunk,
# timestamps it and feeds the recorder. The chunk count comes from the mock's own /metrics
# (vllm:generation_tokens_total, one token per chunk), so both tools are divided by the same
# number. The mock runs on core 0, each client alone on core 1, so "per core" means one core.
#
# Usage: bench/chunk_cpu.sh [--rounds N] [--quick]
# Environment: TOKSCOPE_BIN (default: target/release/tokscope, built if missing), OHA (default:
# oha on PATH or ~/.cargo/bin/oha, installed with 'cargo install oha --locked' if absent),
# PORT (default 18734), MOCK_CORE (0), CLIENT_CORE (1).
#
# Two scenarios run by default:
#   burst  --itl-ms 0: the mock writes as fast as the client reads; many chunks share one read.
#   paced  --itl-ms 2: chunks arrive one per read or close to it, as from a real server.
# Not part of CI: it takes a few minutes and its numbers depend on the machine.
set -euo pipefail

cd "$(dirname "$0")/.."

ROUNDS=3
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

PORT=${PORT:-18734}
MOCK_CORE=${MOCK_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d /tmp/chunk_cpu.XXXXXX)

for tool in curl taskset awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "error: '$tool' is needed (apt-get install curl util-linux gawk)" >&2; exit 2; }
done
if [ ! -x /usr/bin/time ]; then
    echo "error: '/usr/bin/time' is needed (apt-get install time)" >&2
    exit 2
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "warning: fewer than 2 cores; mock and client share core 0, so the figures mix both" >&2
    MOCK_CORE=0
    CLIENT_CORE=0
fi

# --- binaries -----------------------------------------------------------------------------------
if [ -z "${TOKSCOPE_BIN:-}" ]; then
    TOKSCOPE_BIN=target/release/tokscope
    echo "building tokscope (release)..." >&2
    cargo build --release --quiet
fi
[ -x "$TOKSCOPE_BIN" ] || { echo "error: '$TOKSCOPE_BIN' is not an executable" >&2; exit 2; }

if [ -z "${OHA:-}" ]; then
    if command -v oha >/dev/null 2>&1; then
        OHA=$(command -v oha)
    elif [ -x "$HOME/.cargo/bin/oha" ]; then
        OHA="$HOME/.cargo/bin/oha"
    else
        echo "oha not found: installing it with 'cargo install oha --locked' (several minutes)..." >&2
        cargo install oha --locked >&2
        OHA="$HOME/.cargo/bin/oha"
    fi
fi
[ -x "$OHA" ] || { echo "error: oha at '$OHA' is not an executable" >&2; exit 2; }

# --- the simulator ------------------------------------------------------------------------------
MOCK_PID=""
cleanup() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

start_mock() { # $1: itl-ms
    cleanup
    taskset -c "$MOCK_CORE" "$TOKSCOPE_BIN" mock --listen "127.0.0.1:$PORT" --ttft-ms 0 \
        --itl-ms "$1" --slowdown 0 --max-num-seqs 0 --output-len 16 \
        >"$WORK/mock.log" 2>&1 &
    MOCK_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf "$BASE/health" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "error: the mock did not come up on $BASE; its log:" >&2
    cat "$WORK/mock.log" >&2
    exit 1
}

generated() { # the mock's output-token counter (one token per chunk here)
    curl -sf "$BASE/metrics" | awk '/^vllm:generation_tokens_total/ { s += $NF } END { printf "%d\n", s }'
}

# measure NAME LOG CMD...: run CMD on the client core; append "name chunks wall user sys" to rows.
measure() {
    local name=$1 log=$2
    shift 2
    local before after
    before=$(generated)
    if ! /usr/bin/time -f '%e %U %S' -o "$WORK/time" taskset -c "$CLIENT_CORE" "$@" >"$log" 2>&1; then
        echo "error: $name failed; its output ($log):" >&2
        tail -20 "$log" >&2
        exit 1
    fi
    after=$(generated)
    read -r wall user sys <"$WORK/time"
    echo "$name $((after - before)) $wall $user $sys" >>"$WORK/rows"
}

# A prompt of about 16 words, like the one tokscope's random dataset sends with --random-input-len 16.
PROMPT="the quick brown fox jumps over the lazy dog while seven wizards quietly judge boxing matches tonight"
body() { # $1: output tokens
    printf '{"model":"tokscope-sim","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"%s"}],"max_completion_tokens":%d,"max_tokens":%d}' \
        "$PROMPT" "$1" "$1"
}

run_scenario() { # NAME ITL_MS REQUESTS CONCURRENCY TOKENS
    local name=$1 itl=$2 n=$3 c=$4 t=$5
    : >"$WORK/rows"
    start_mock "$itl"
    echo >&2
    echo "scenario '$name': mock --itl-ms $itl; $n requests x $t tokens, concurrency $c; $ROUNDS rounds" >&2
    for r in $(seq 1 "$ROUNDS"); do
        echo "  round $r: oha..." >&2
        measure oha "$WORK/oha-$name-$r.log" \
            "$OHA" -m POST -H 'content-type: application/json' -d "$(body "$t")" \
            -n "$n" -c "$c" --no-tui "$BASE/v1/chat/completions"
        echo "  round $r: tokscope bench..." >&2
        measure tokscope "$WORK/tokscope-$name-$r.log" \
            "$TOKSCOPE_BIN" bench "$BASE" --model tokscope-sim --num-prompts "$n" \
            --max-concurrency "$c" --random-input-len 16 --random-output-len "$t" --no-gpu
        if ! grep -q "Successful requests: *$n\b" "$WORK/tokscope-$name-$r.log"; then
            echo "warning: tokscope did not report $n successful requests; see $WORK/tokscope-$name-$r.log" >&2
        fi
        if ! grep -q "\[200\] $n responses" "$WORK/oha-$name-$r.log"; then
            echo "warning: oha did not report $n responses with status 200; see $WORK/oha-$name-$r.log" >&2
        fi
    done
    report "$name" "$itl" "$n" "$c" "$t"
}

# Per-round rows, then the median of each tool's CPU per chunk and the ratio.
report() {
    local name=$1 itl=$2 n=$3 c=$4 t=$5
    echo
    echo "### $name: mock --itl-ms $itl, $n requests x $t tokens, concurrency $c"
    echo
    awk '
        BEGIN {
            printf "| %-8s | %9s | %7s | %7s | %7s | %12s | %18s |\n", "tool", "chunks", "wall s", "user s", "sys s", "µs CPU/chunk", "chunks/s per core"
            printf "|%s|%s|%s|%s|%s|%s|%s|\n", "----------", "-----------", "---------", "---------", "---------", "--------------", "--------------------"
        }
        {
            cpu = $4 + $5
            us = $2 > 0 ? cpu * 1e6 / $2 : 0
            rate = cpu > 0 ? $2 / cpu : 0
            printf "| %-8s | %9d | %7.2f | %7.2f | %7.2f | %12.2f | %18.0f |\n", $1, $2, $3, $4, $5, us, rate
            v[$1, ++k[$1]] = us
        }
        function median(tool,   i, j, m, t, a) {
            m = k[tool]
            for (i = 1; i <= m; i++) a[i] = v[tool, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            o = median("oha"); s = median("tokscope")
            printf "\nmedian µs CPU per chunk: tokscope %.2f, oha %.2f; ratio tokscope/oha %.2fx", s, o, (o > 0 ? s / o : 0)
            printf " (target: 1.30x or less)\n"
            printf "one client core sustains about %.0f chunks/s with tokscope, %.0f with oha\n", (s > 0 ? 1e6 / s : 0), (o > 0 ? 1e6 / o : 0)
        }' "$WORK/rows"
}

echo "# chunk_cpu: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# tokscope: $("$TOKSCOPE_BIN" --version), oha: $("$OHA" --version 2>/dev/null | head -1); mock on core $MOCK_CORE, client on core $CLIENT_CORE"
if [ "$QUICK" = 1 ]; then
    run_scenario burst 0 64 16 500
    run_scenario paced 2 64 32 250
else
    run_scenario burst 0 1000 32 1000
    run_scenario paced 2 512 128 1000
fi
echo
echo "logs: $WORK"
