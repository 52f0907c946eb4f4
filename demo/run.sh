#!/usr/bin/env bash
# The whole path on loopback, in a minute: a relay, an edge following an auth.log into which
# the 183 real Debian 12 records of demo/debian12-auth.log are written as they happened (a
# brute force, accounts created, deleted and made administrators, sudo and su), a fake
# DingTalk group and a fake iFlytek Spark (the strict fakes of the tests; nothing leaves the
# machine). Alerts appear below as the group would show them, with Spark's analysis, and on
# the relay's status page.
#
#     demo/run.sh                 # until Ctrl-C
#     demo/run.sh --check         # CI: stops after the replay, fails unless the alerts arrived
#
# Needs the debug build (swift build). DEMO_PORT (default 25514: syslog, and +1 the status
# page) and DEMO_DIR (default a new directory under /tmp) change where it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
check=false
[ "${1:-}" = "--check" ] && check=true
bin=$root/.build/debug
for program in relay edge airgap-fakes; do
    [ -x "$bin/$program" ] || { echo "demo: $bin/$program is missing: run 'swift build' first" >&2; exit 1; }
done
port=${DEMO_PORT:-25514}
http=$((port + 1))
work=${DEMO_DIR:-$(mktemp -d /tmp/airgap-demo.XXXXXX)}
mkdir -p "$work"
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # The relay finishes what it was sending; anything still running after 15 s is killed.
    for _ in $(seq 150); do
        alive=false
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
        $alive || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 130' INT TERM

# Outside the air gap: the robot and the model.
"$bin/airgap-fakes" > "$work/fakes.jsonl" 2> "$work/group.txt" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fakes.jsonl" ] && break; sleep 0.1; done
first=$(head -n 1 "$work/fakes.jsonl")
field() { printf '%s' "$first" | sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p"; }
[ -n "$(field dingtalk_webhook)" ] || { echo "demo: the fakes did not start: $(cat "$work/group.txt")" >&2; exit 1; }

# The relay: syslog on loopback, the robot and Spark as configured for the real ones.
cat > "$work/relay.yaml" <<EOF
listen:
  - udp: "127.0.0.1:$port"
  - tcp: "127.0.0.1:$port"
http: "127.0.0.1:$http"
data_directory: $work/relay
channels:
  - name: demo-group
    type: dingtalk
    webhook: "$(field dingtalk_webhook)"
    secret: "$(field dingtalk_secret)"
    keyword: "$(field dingtalk_keyword)"
    min_severity: medium
    language: en
analysis:
  kind: spark
  url: "$(field spark_url)"
  model: generalv3.5
  app_id: "$(field spark_app_id)"
  api_key: "$(field spark_api_key)"
  api_secret: "$(field spark_api_secret)"
  min_severity: medium
  timeout_seconds: 10
EOF
"$bin/relay" check-config --config "$work/relay.yaml" > /dev/null
# The edge's key (this makes the relay's passkey), then the relay.
key=$("$bin/relay" edge-key --edge demo-01 --config "$work/relay.yaml" 2>/dev/null | head -n 1)
"$bin/relay" run --config "$work/relay.yaml" > "$work/relay.out" 2>&1 &
pids+=($!)

# The edge, following auth.log from its first line.
: > "$work/auth.log"
cat > "$work/edge.yaml" <<EOF
edge_id: demo-01
key: "$key"
hostname: vm
relay:
  transport: tcp
  addresses: ["127.0.0.1:$port"]
sources:
  - file: $work/auth.log
start_at: beginning
state_directory: $work/edge
heartbeat_seconds: 5
EOF
"$bin/edge" check-config --config "$work/edge.yaml" > /dev/null
"$bin/edge" run --config "$work/edge.yaml" > "$work/edge.out" 2>&1 &
pids+=($!)

echo "demo: relay on 127.0.0.1:$port, status page http://127.0.0.1:$http/, files in $work"
echo "demo: writing demo/debian12-auth.log into $work/auth.log, one record every 0.1 s"
tail -n +1 -f "$work/group.txt" &
pids+=($!)
started=$(date +%s)
while IFS= read -r line; do
    printf '%s\n' "$line" >> "$work/auth.log"
    sleep 0.1
done < "$root/demo/debian12-auth.log"

if ! $check; then
    echo
    echo "demo: all 183 records written. Alerts keep coming as incidents grow; 'relay alerts' and 'relay status':"
    echo "      $bin/relay alerts --config $work/relay.yaml"
    echo "demo: Ctrl-C stops everything."
    wait
fi

# --check: the alerts a user must see, within a minute of the start.
want=("brute force from" "account alice created" "made administrator" "疑似口令爆破")
deadline=$((started + 60))
missing=("${want[@]}")
while [ "$(date +%s)" -lt "$deadline" ]; do
    missing=()
    for w in "${want[@]}"; do grep -qi -- "$w" "$work/fakes.jsonl" || missing+=("$w"); done
    [ ${#missing[@]} -eq 0 ] && break
    sleep 1
done
messages=$(grep -c robot_message_ms "$work/fakes.jsonl" || true)
echo
echo "demo: $messages robot message(s) in $(( $(date +%s) - started )) s; $("$bin/relay" status --config "$work/relay.yaml" | sed -n 2p)"
if [ ${#missing[@]} -gt 0 ]; then
    echo "demo: FAIL: no robot message mentions: ${missing[*]}" >&2
    tail -n 20 "$work/relay.out" >&2
    exit 1
fi
echo "demo: PASS: brute force, account created, administrators and Spark's analysis reached the group"
