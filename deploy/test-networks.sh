#!/usr/bin/env bash
# The field, in network namespaces this script makes (root only; .ci/run runs it):
#
#   segment A 10.99.0.0/24: web1 (edge, TCP), web2 (edge, UDP), rs (rsyslog only, over TLS)
#   segment B 10.99.1.0/24: db1 (edge), which reaches the relay only through inter, an
#                           rsyslog on both segments that passes its frames on untouched
#   gw: the relay, 10.99.0.1 on segment A and 10.99.2.1 outside
#   out 10.99.2.0/24: the fake DingTalk robot and fake Spark (airgap-fakes)
#
# No internal namespace has a route outside (checked); the gateway does not forward. Inside:
# auth lines appended to each edge's log, a logrotate-style rotation, an edge killed with
# SIGKILL and restarted, the relay restarted while the edges write, a brute force from one
# source across both segments, an account created then made administrator, an edge stopped for
# good. Outside, the alerts must arrive, each once, with analysis, and the stopped edge's
# silence. Prints line-to-robot latencies and the counts at each hop.
#
#     deploy/test-networks.sh          # needs the debug build (swift build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.build/debug
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "root only (network namespaces)"
for program in relay edge airgap-fakes; do [ -x "$bin/$program" ] || fail "$bin/$program is missing: swift build first"; done
for tool in ip rsyslogd openssl python3; do command -v "$tool" >/dev/null || fail "$tool is missing (.ci/run installs it)"; done

work=$(mktemp -d /tmp/airgap-networks.XXXXXX)
hosts=(out gw web1 web2 rs db1 inter)
pids=()
cleanup() {
    {   # (bash's "Killed" notices go to the same place)
        for pid in "${pids[@]}"; do kill -9 "$pid" || true; done
        pkill -9 -f "$work" || true
        wait || true
        for h in "${hosts[@]}"; do ip netns del "ag-$h" || true; done
    } 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
# nsenter execs the command (ip netns exec forks: a signal to its pid would miss the program).
# Programs that run in the background are started with nsenter itself, not through this
# function (a function put in the background is a subshell: $! would be the subshell's pid).
ns() { local h=$1; shift; nsenter --net="/run/netns/ag-$h" -- "$@"; }
now_ms() { date +%s%3N; }

echo "== networks"
for h in "${hosts[@]}"; do
    ip netns del "ag-$h" 2>/dev/null || true
    ip netns add "ag-$h" || fail "cannot create network namespaces here"
    ip -n "ag-$h" link set lo up
done
# A veth pair between two namespaces: link NAME_A in A, NAME_B in B.
link() {
    ip link add "$2" type veth peer name "$4" || fail "cannot create veth pairs"
    ip link set "$2" netns "ag-$1"
    ip link set "$4" netns "ag-$3"
    ip -n "ag-$1" link set "$2" up
    ip -n "ag-$3" link set "$4" up
}
link gw gw-out out out-gw
ip -n ag-gw addr add 10.99.2.1/24 dev gw-out
ip -n ag-out addr add 10.99.2.2/24 dev out-gw
ip -n ag-gw link add br-a type bridge
ip -n ag-gw addr add 10.99.0.1/24 dev br-a
ip -n ag-gw link set br-a up
address=(web1:11 web2:12 rs:13 inter:20)
for entry in "${address[@]}"; do
    h=${entry%%:*}
    link "$h" "$h-a" gw "a-$h"
    ip -n ag-gw link set "a-$h" master br-a
    ip -n "ag-$h" addr add "10.99.0.${entry##*:}/24" dev "$h-a"
done
link inter inter-b db1 db1-b
ip -n ag-inter addr add 10.99.1.2/24 dev inter-b
ip -n ag-db1 addr add 10.99.1.11/24 dev db1-b
[ "$(ns gw cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "the gateway forwards"

echo "== outside: fake DingTalk and Spark on 10.99.2.2"
nsenter --net=/run/netns/ag-out -- "$bin/airgap-fakes" --host 10.99.2.2 > "$work/fakes.jsonl" 2> "$work/group.txt" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fakes.jsonl" ] && break; sleep 0.1; done
first=$(head -n 1 "$work/fakes.jsonl")
field() { printf '%s' "$first" | sed -n "s/.*\"$1\": \"\\([^\"]*\\)\".*/\\1/p"; }
robot=$(field dingtalk_webhook)
[ -n "$robot" ] || fail "the fakes did not start: $(cat "$work/group.txt")"
robot_port=$(printf '%s' "$robot" | sed -n 's#http://10.99.2.2:\([0-9]*\)/.*#\1#p')

echo "== no internal host reaches outside; db1 reaches the relay only through inter"
reach() { ns "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }
for h in web1 web2 rs inter db1; do
    if reach "$h" 10.99.2.2 "$robot_port"; then fail "$h reached the outside network (10.99.2.2:$robot_port)"; fi
done
reach gw 10.99.2.2 "$robot_port" || fail "the gateway cannot reach the fakes"
if reach db1 10.99.0.1 22; then fail "db1 reached segment A"; fi
ns db1 ip route | grep -q default && fail "db1 has a default route"
echo "ok: web1 web2 rs inter db1 cannot connect to 10.99.2.2:$robot_port; gw can"

echo "== the relay's certificate (relay.internal, signed by a CA the TLS host trusts)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=airgap test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=relay.internal \
    -keyout "$work/relay.key" -out "$work/relay.csr" 2>/dev/null
printf 'subjectAltName=DNS:relay.internal,IP:10.99.0.1\n' > "$work/ext"
openssl x509 -req -in "$work/relay.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/ext" -out "$work/relay.crt" 2>/dev/null

echo "== the relay on the gateway"
cat > "$work/relay.yaml" <<EOF
listen:
  - udp: "10.99.0.1:5514"
  - tcp: "10.99.0.1:5514"
  - tls: "10.99.0.1:6514"
tls:
  certificate_file: $work/relay.crt
  key_file: $work/relay.key
http: "127.0.0.1:9514"
data_directory: $work/relay
edges:
  silence_seconds: 8
channels:
  - name: oncall
    type: dingtalk
    webhook: "$robot"
    secret: "$(field dingtalk_secret)"
    keyword: "$(field dingtalk_keyword)"
    min_severity: high
    language: en
analysis:
  kind: spark
  url: "$(field spark_url)"
  model: generalv3.5
  app_id: "$(field spark_app_id)"
  api_key: "$(field spark_api_key)"
  api_secret: "$(field spark_api_secret)"
  min_severity: high
  timeout_seconds: 10
EOF
"$bin/relay" check-config --config "$work/relay.yaml" >/dev/null
start_relay() {
    nsenter --net=/run/netns/ag-gw -- "$bin/relay" run --config "$work/relay.yaml" >> "$work/relay.out" 2>&1 &
    relay_pid=$!
    pids+=($relay_pid)
    for _ in $(seq 100); do reach web1 10.99.0.1 5514 && return 0; sleep 0.1; done
    fail "the relay is not listening: $(tail -5 "$work/relay.out")"
}
start_relay

echo "== rsyslog: the TLS host (rs) and the intermediate (inter)"
rsyslog() {  # NAME CONFIG: rsyslogd in namespace NAME, its own work directory
    mkdir -p "$work/rsyslog-$1"
    printf 'global(workDirectory="%s")\n%s\n' "$work/rsyslog-$1" "$2" > "$work/rsyslog-$1/rsyslog.conf"
    rsyslogd -N1 -f "$work/rsyslog-$1/rsyslog.conf" >/dev/null 2>&1 || fail "rsyslogd -N1 refused the $1 configuration"
    nsenter --net="/run/netns/ag-$1" -- rsyslogd -n -f "$work/rsyslog-$1/rsyslog.conf" -i "$work/rsyslog-$1/pid" > "$work/rsyslog-$1/out" 2>&1 &
    pids+=($!)
}
tls=$(sed -e "s#/etc/rsyslog.d/airgap-relay-ca.pem#$work/ca.pem#" -e 's#target="relay.internal"#target="10.99.0.1"#' deploy/rsyslog/60-airgap-tls.conf)
rsyslog rs "module(load=\"imudp\")
input(type=\"imudp\" address=\"127.0.0.1\" port=\"514\")
$tls"
rsyslog inter "$(sed 's#target="relay.internal"#target="10.99.0.1"#' deploy/rsyslog/50-airgap-intermediate.conf)"

echo "== the edges: web1 (TCP), web2 (UDP), db1 (TCP to inter)"
edge_config() {  # NAME TRANSPORT ADDRESS
    local key
    key=$("$bin/relay" edge-key --edge "$1" --config "$work/relay.yaml" 2>/dev/null | head -n 1)
    mkdir -p "$work/$1"
    : > "$work/$1/auth.log"
    cat > "$work/$1/edge.yaml" <<EOF
edge_id: $1
key: "$key"
hostname: $1
relay:
  transport: $2
  addresses: ["$3"]
sources:
  - file: $work/$1/auth.log
start_at: beginning
state_directory: $work/$1/state
heartbeat_seconds: 2
EOF
    "$bin/edge" check-config --config "$work/$1/edge.yaml" >/dev/null
}
declare -A edge_pid
start_edge() {
    nsenter --net="/run/netns/ag-$1" -- "$bin/edge" run --config "$work/$1/edge.yaml" >> "$work/$1/edge.out" 2>&1 &
    edge_pid[$1]=$!
    pids+=($!)
}
edge_config web1 tcp 10.99.0.1:5514
edge_config web2 udp 10.99.0.1:5514
edge_config db1 tcp 10.99.1.2:5514
for e in web1 web2 db1; do start_edge $e; done

# One auth line, with a marker the store is searched for; the time it was written is kept.
n=0
declare -A written_ms
line() {  # HOST TEXT
    n=$((n + 1))
    printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$1" "$2" >> "$work/$1/auth.log"
}
marker() { written_ms[$1]=$(now_ms); }
failure() {  # HOST USER SOURCE PORT
    line "$1" "sshd[$((3000 + n))]: Failed password for $2 from $3 port $4 ssh2"
}
wait_for() {  # SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "$what (within $seconds s)"
        sleep 0.5
    done
}
sql() { python3 - "$work/relay/relay.sqlite" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=10)
for row in db.execute(sys.argv[2]): print("\t".join("" if v is None else str(v) for v in row))
PY
}
stored() { [ "$(sql "SELECT count(*) FROM event WHERE raw LIKE '%$1%'")" -ge "${2:-1}" ]; }
robot_said() { grep -q -- "$1" "$work/fakes.jsonl"; }

echo "== activity"
relay_knows() { "$bin/relay" status --config "$work/relay.yaml" 2>/dev/null | grep -q "^  $1"; }
# Each edge's first heartbeat goes after its first read: from then on it has its file open,
# and the rotation below cannot come before the edge knew the file (a busy machine started
# web2 late once, after the rotation, and the two lines before it were never read).
wait_for 30 "db1's first frame (through inter)" relay_knows db1
for e in web1 web2; do wait_for 30 "$e's first frame" relay_knows $e; done
# Ordinary failures on web1, web2 (each its own user: none is a brute force yet).
failure web1 alice 198.51.100.7 50001
failure web2 bob 198.51.100.8 50002

# web2's log rotated as logrotate does (rename, new file), lines on both sides of it.
failure web2 carol 198.51.100.9 50003
mv "$work/web2/auth.log" "$work/web2/auth.log.1"
: > "$work/web2/auth.log"
failure web2 dave 198.51.100.10 50004

# web1's edge killed with SIGKILL while lines arrive, then started again.
kill -9 "${edge_pid[web1]}"
failure web1 erin 198.51.100.11 50005
failure web1 frank 198.51.100.12 50006
start_edge web1

# The relay restarted while the edges keep writing.
kill -TERM "$relay_pid"
wait "$relay_pid" 2>/dev/null || true
failure web2 grace 198.51.100.13 50007
failure db1 heidi 198.51.100.14 50008
start_relay

# A burst of failed passwords from one source across both segments.
marker burst
for i in 1 2 3; do failure web1 root 203.0.113.50 $((41000 + i)); failure db1 root 203.0.113.50 $((42000 + i)); done
# An account created, then made administrator (db1, through the intermediate).
marker admin
line db1 "useradd[4101]: new user: name=mallory, UID=1501, GID=1501, home=/home/mallory, shell=/bin/bash, from=/dev/pts/0"
line db1 "usermod[4102]: add 'mallory' to group 'sudo'"
# A host without an edge, over TLS through rsyslog.
marker tls
for i in 1 2 3 4 5 6; do
    ns rs logger --server 127.0.0.1 --port 514 --udp --rfc5424 -p authpriv.notice -t sshd \
        "Failed password for oscar from 192.0.2.77 port $((43000 + i)) ssh2"
done

echo "== outside: the alerts"
wait_for 60 "the brute force from 203.0.113.50 reached the robot" robot_said "brute force from 203.0.113.50"
wait_for 60 "account mallory created and made administrator reached the robot" robot_said "mallory created on db1 and made administrator"
wait_for 60 "the TLS host's brute force reached the robot" robot_said "brute force from 192.0.2.77"

# web2 stopped for good: the relay raises its silence.
marker silence
kill -TERM "${edge_pid[web2]}"
wait_for 60 "web2's silence reached the robot" robot_said "edge web2 has gone silent"

echo "== nothing lost, nothing twice"
for user in alice bob carol dave erin frank grace heidi; do
    count=$(sql "SELECT count(*) FROM event WHERE raw LIKE '%Failed password for $user %'")
    [ "$count" = 1 ] || fail "$user's failed password stored $count times"
done
[ "$(sql "SELECT count(*) FROM event WHERE raw LIKE '%203.0.113.50%'")" = 6 ] || fail "the burst's six lines are not stored once each"
[ "$(sql "SELECT count(DISTINCT edge) FROM event WHERE raw LIKE '%203.0.113.50%'")" = 2 ] || fail "the burst did not come from both segments"
[ "$(sql "SELECT count(*) FROM event WHERE raw LIKE '%192.0.2.77%'")" = 6 ] || fail "the TLS host's six lines are not stored once each"
[ "$(sql "SELECT count(*) FROM incident WHERE kind = 'brute_force' AND source_ip = '203.0.113.50'")" = 1 ] || fail "the burst is not one incident"
# Each alert once: the robot's messages that open with each title.
titles() { python3 - "$work/fakes.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "text" in m: print(m["text"].split("\n", 1)[0])
PY
}
titles > "$work/titles.txt"
for title in "brute force from 203.0.113.50" "mallory created on db1 and made administrator" "brute force from 192.0.2.77"; do
    c=$(grep -c -- "$title" "$work/titles.txt" || true)
    [ "$c" = 1 ] || fail "'$title' reached the robot $c times: $(cat "$work/titles.txt")"
done
python3 - "$work/fakes.jsonl" <<'PY' || fail "an alert went without Spark's analysis"
import json, sys
texts = [json.loads(l)["text"] for l in open(sys.argv[1]) if '"text"' in l]
for title in ["brute force from 203.0.113.50", "mallory created on db1 and made administrator", "brute force from 192.0.2.77"]:
    message = next(t for t in texts if title in t.split("\n", 1)[0])
    if "疑似口令爆破" not in message:
        sys.exit(f"no analysis in the alert '{title}'")
PY

echo "== figures"
python3 - "$work/fakes.jsonl" "${written_ms[burst]}" "${written_ms[admin]}" "${written_ms[tls]}" "${written_ms[silence]}" <<'PY'
import json, statistics, sys
messages = [json.loads(l) for l in open(sys.argv[1]) if '"text"' in l]
def first(needle):
    for m in messages:
        if needle in m["text"]: return int(m["robot_message_ms"])
alerts = {"brute force across segments": ("brute force from 203.0.113.50", int(sys.argv[2])),
          "account made administrator": ("mallory created on db1 and made administrator", int(sys.argv[3])),
          "TLS host brute force": ("brute force from 192.0.2.77", int(sys.argv[4]))}
lat = []
for name, (needle, written) in alerts.items():
    ms = first(needle) - written
    lat.append(ms)
    print(f"line-to-robot {name}: {ms} ms")
print(f"line-to-robot latency: median {statistics.median(lat):.0f} ms, worst {max(lat)} ms (silence, by design after edges.silence_seconds: {first('edge web2 has gone silent') - int(sys.argv[5])} ms)")
print(f"robot messages: {len(messages)}")
PY
metrics=$(ns gw python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9514/metrics").read().decode())')
echo "lines written: $n auth lines on the edges, 6 on the TLS host"
for e in web1 db1 web2; do
    # (The edge's own journal is written when a line is read: a line read again after the
    # SIGKILL is in web1's journal twice, and at the relay once.)
    echo "edge $e: $(grep -c . "$work/$e/state/events.jsonl" 2>/dev/null || echo 0) events in its local journal"
done
echo "relay (since its restart): $(printf '%s\n' "$metrics" | grep -E '^relay_(frames_total|edge_events_total|syslog_events_total|messages_total)' | tr '\n' ' ')"
echo "relay status (frames per edge over the whole run):"
"$bin/relay" status --config "$work/relay.yaml" | sed -n '/^  EDGE/,$p'
echo "relay store: $(sql "SELECT count(*) FROM event") events, $(sql "SELECT count(*) FROM incident") incidents; outbox: $(sql "SELECT status || ' ' || count(*) FROM outbox GROUP BY status" | tr '\n' ' ')"
echo "PASS: three networks, alerts outside, none missing and none twice"
