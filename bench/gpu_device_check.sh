#!/usr/bin/env bash
# Real-GPU check of tokscope's telemetry (NVIDIA). Compares `tokscope gpu --json` with nvidia-smi
# at idle, during a ~20 s gpu_burn.py load, and after; then scrapes `tokscope agent`'s /metrics.
#
#   bench/gpu_device_check.sh [DIR]
#
# DIR (default: this script's folder) holds the `tokscope` binary and gpu_burn.py (copied from
# ../shared/device/). Prints everything to stdout; exit status is 0 unless a step could not run.
set -u
DIR=${1:-$(cd "$(dirname "$0")" && pwd)}
BIN="$DIR/tokscope"
BURN="$DIR/gpu_burn.py"
PORT=${TOKSCOPE_AGENT_PORT:-9401}
QUERY="name,memory.used,memory.total,power.draw,temperature.gpu,utilization.gpu"

for f in "$BIN" "$BURN"; do
  [ -e "$f" ] || { echo "missing '$f': put tokscope and gpu_burn.py in '$DIR'" >&2; exit 2; }
done
command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found" >&2; exit 2; }

side_by_side() {
  echo "=== $1 ($(date +%T))"
  echo "--- nvidia-smi"
  nvidia-smi --query-gpu="$QUERY" --format=csv
  echo "--- tokscope gpu --json (key fields)"
  if command -v python3 >/dev/null; then
    "$BIN" gpu --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
for p in r["backends"]:
    print("backend", p["backend"], p["origin"], "absent: " + p["absent"] if p["absent"] else "")
v = lambda m: m.get("value") if isinstance(m, dict) else m
for g in r["gpus"]:
    used, total = v(g["memory_used_bytes"]), v(g["memory_total_bytes"])
    mib = lambda b: "%.0f MiB" % (b / 2**20) if isinstance(b, (int, float)) else b
    print(g["name"], "| mem", mib(used), "/", mib(total), "| power", v(g["power_w"]), "W /",
          v(g["power_limit_w"]), "W | temp", v(g["temperature_c"]), "C | util",
          v(g["utilization_pct"]), "% | energy", v(g["energy_mj"]), "mJ")'
  else
    "$BIN" gpu --json
  fi
}

side_by_side "idle"

"$BIN" agent --listen "127.0.0.1:$PORT" >"$DIR/agent.log" 2>&1 &
AGENT=$!
trap 'kill "$AGENT" 2>/dev/null' EXIT

python3 "$BURN" --seconds 20 --gib 20 &
BURNPID=$!
for t in 5 12 18; do
  sleep $((t - ${prev:-0})); prev=$t
  side_by_side "during gpu_burn, t=${t}s"
done
echo "=== tokscope agent /metrics during load"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -v '^#' || echo "agent not answering; see $DIR/agent.log"
wait "$BURNPID"
sleep 2
side_by_side "after gpu_burn"
echo "=== tokscope gpu (table)"
"$BIN" gpu
