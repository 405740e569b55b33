#!/usr/bin/env bash
# Long fuzzing of the parsers a server feeds (SSE splitter, chunk parser, Prometheus parser):
# the same properties as tests/fuzz_parsers.rs, which CI runs with a fixed seed and 1,000 cases
# per property, here with a fresh seed each round and many more cases, in an optimised build.
#
# Usage: bench/fuzz_long.sh [--minutes M] [--cases N]
#   --minutes M  keep starting rounds until M minutes have passed (default 30)
#   --cases N    cases per property and round (default 200000)
# A failure prints its seed and case; replay it with
#   TOKSCOPE_FUZZ_SEED=S TOKSCOPE_FUZZ_CASES=N cargo test --release --test fuzz_parsers
# Not part of CI.
set -euo pipefail

cd "$(dirname "$0")/.."

MINUTES=30
CASES=200000
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) MINUTES="$2"; shift 2 ;;
        --cases) CASES="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cargo test --release --test fuzz_parsers --no-run
END=$(( $(date +%s) + MINUTES * 60 ))
round=0
while [ "$(date +%s)" -lt "$END" ]; do
    round=$((round + 1))
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    printf 'round %d: seed %s, %d cases per property\n' "$round" "$seed" "$CASES"
    if ! TOKSCOPE_FUZZ_SEED="$seed" TOKSCOPE_FUZZ_CASES="$CASES" \
        cargo test --release -q --test fuzz_parsers; then
        echo "FAILED in round $round: seed $seed (the failing case is named above)"
        exit 1
    fi
done
echo "all $round rounds passed"
