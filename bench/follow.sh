#!/usr/bin/env bash
# The edge following a growing file, release build: lines per second from the first append
# until every line's frame was sent (the checkpoint at the end of the file and the spool
# empty: over UDP a frame leaves the spool once sent), its peak resident memory, and its
# CPU time while idle (inotify: nothing should run while nothing happens).
#   bench/follow.sh [LINES]     (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-200000}"
mkdir -p bench/out
input="bench/out/auth-$lines.log"
[ -f "$input" ] || python3 bench/gen-authlog.py "$lines" "$input"
source bench/edge-binary.sh
swift build -c release --product relay 2>&1 | tail -n 1

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
.build/release/relay edge-key --edge bench --data-dir "$work/relay" >/dev/null 2>&1
key=$(.build/release/relay edge-key --edge bench --data-dir "$work/relay" 2>/dev/null | head -n 1)
# A receiver for the frames: the relay on a random port would need its config file, which
# is not there yet; a UDP sink that drops everything measures the edge alone.
python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$port))
while True: s.recv(65536)
" &
cat > "$work/edge.yaml" <<YAML
edge_id: bench
key: $key
relay: {transport: udp, addresses: ["127.0.0.1:$port"]}
sources: [{file: $work/auth.log}]
start_at: beginning
state_directory: $work/state
heartbeat_seconds: 30
journal: off
YAML
: > "$work/auth.log"
/usr/bin/time -v -o "$work/time.txt" "$edge_bin" run --config "$work/edge.yaml" --log-level error &
time_pid=$!
sleep 1
edge_pid=$(pgrep -P "$time_pid")
cpu() { awk '{print $14 + $15}' "/proc/$edge_pid/stat"; }
idle_before=$(cpu); sleep 5; idle_after=$(cpu)
size=$(stat -c %s "$input")
t0=$(date +%s.%N)
split -n l/20 "$input" "$work/part-"
for part in "$work"/part-*; do cat "$part" >> "$work/auth.log"; done
while true; do
    offset=$(python3 -c "import json;d=json.load(open('$work/state/state.json'));print(list(d['checkpoints'].values())[0]['offset'] if d['checkpoints'] else 0)" 2>/dev/null || echo 0)
    if [ "$offset" -ge "$size" ] && [ -z "$(ls -A "$work/state/spool" 2>/dev/null)" ]; then break; fi
    sleep 0.05
done
t1=$(date +%s.%N)
kill -TERM "$edge_pid"; wait "$time_pid" 2>/dev/null || true
rss=$(grep "Maximum resident" "$work/time.txt" | awk '{print $NF}')
python3 - "$lines" "$t0" "$t1" "$rss" "$idle_before" "$idle_after" <<'PY'
import sys, os
n, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rss_kb, idle = int(sys.argv[4]), (int(sys.argv[6]) - int(sys.argv[5])) / os.sysconf("SC_CLK_TCK")
print(f"following a growing file: {n} lines in {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} lines/s, until the last frame was sent (detect, batch, compress, sign, spool, send)")
print(f"peak RSS of edge run: {rss_kb / 1024:.1f} MiB")
print(f"CPU while idle for 5 s: {idle:.2f} s")
PY
