#!/usr/bin/env bash
# Installs airgap-edge and airgap-relay into a fresh Debian root (mmdebstrap, minbase: no Swift,
# no compiler, no SQLite) with apt, offline (a network namespace of its own, with loopback
# only), configures them the way deploy/README.md tells an operator to, runs both from there
# and checks that a brute force written to the edge's auth log becomes an incident at the
# relay. Then removes and purges them. Then, in a second copy of the root booted with
# systemd-nspawn (systemd as its init, a private network), the units as shipped:
# `systemctl enable --now relay edge`, their users and limits, and the same brute force.
# Root only (chroot, namespaces); .ci/run runs it.
#
#   deploy/test-packages.sh [DEB...]       default: builds them with deploy/package.sh (release)
#
# FRESH_ROOT_TAR=file reuses a root tarball made earlier by mmdebstrap with systemd (it
# downloads about 45 MB).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "test-packages.sh needs root (chroot and namespaces)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn is missing (apt-get install systemd-container)" >&2; exit 1; }

work=$(mktemp -d /tmp/airgap-packages.XXXXXX)
nspawn_pid=
cleanup() {
    [ -z "$nspawn_pid" ] || kill -9 "$nspawn_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ $# -gt 0 ]; then
    debs=("$@")
else
    mapfile -t debs < <(deploy/package.sh --out "$work/debs" | grep '\.deb$')
fi
[ ${#debs[@]} = 2 ] || fail "expected the two packages, got: ${debs[*]}"

echo "== the units pass systemd-analyze verify (with the packaged binaries)"
units=$work/units
mkdir -p "$units/tree"
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$units/tree"; done
for unit in "$units"/tree/lib/systemd/system/*.service; do
    sed "s|/usr/bin/|$units/tree/usr/bin/|g" "$unit" > "$units/$(basename "$unit")"
done
verify=$(systemd-analyze verify "$units"/*.service 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"

echo "== a fresh Debian root (minbase and systemd, as a host has it)"
root=$work/root
mkdir -p "$root"
tarball=${FRESH_ROOT_TAR:-$work/root.tar}
if [ ! -s "$tarball" ]; then
    mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus --quiet bookworm "$tarball"
fi
tar -C "$root" -xf "$tarball"
[ ! -e "$root/opt/swift" ] && ! chroot "$root" sh -c 'command -v swift swiftc' >/dev/null \
    || fail "the fresh root has a Swift toolchain"
chroot "$root" sh -c 'test ! -e /usr/lib/x86_64-linux-gnu/libsqlite3.so.0' \
    || fail "the fresh root has libsqlite3; the test would not show that the relay embeds SQLite"
for deb in "${debs[@]}"; do cp "$deb" "$root/tmp/"; done

# What runs inside: the operator's steps from deploy/README.md, then the checks.
cat > "$root/tmp/inside.sh" <<'EOF'
#!/bin/sh
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
echo "== apt install, offline"
apt-get install -y -q /tmp/airgap-edge_*.deb /tmp/airgap-relay_*.deb >/tmp/apt.log 2>&1 \
    || { cat /tmp/apt.log; fail "apt could not install the packages offline"; }
command -v swift >/dev/null && fail "swift is on the path"
edge --version && relay --version

echo "== what the packages made"
getent passwd edge >/dev/null && getent passwd relay >/dev/null || fail "system users missing"
[ "$(stat -c '%U %a' /var/lib/relay/passkey)" = "relay 600" ] || fail "passkey: $(stat -c '%U %a' /var/lib/relay/passkey)"
[ "$(stat -c '%U %a' /var/lib/edge)" = "edge 700" ] || fail "edge state: $(stat -c '%U %a' /var/lib/edge)"
[ -f /lib/systemd/system/edge.service ] && [ -f /lib/systemd/system/relay.service ] || fail "units missing"
[ -f /usr/share/doc/airgap-relay/rsyslog/60-airgap-tls.conf ] || fail "rsyslog snippets missing"

echo "== postinst writes no file of root's through a link the relay user planted"
rm /var/lib/relay/passkey
echo "root's file" > /root/victim
setpriv --reuid=relay --regid=relay --init-groups ln -s /root/victim /var/lib/relay/passkey.new
/var/lib/dpkg/info/airgap-relay.postinst configure 0.1.0
[ "$(cat /root/victim)" = "root's file" ] || fail "postinst wrote through the relay's link into /root/victim"
[ -f /var/lib/relay/passkey ] && [ ! -L /var/lib/relay/passkey ] || fail "no new passkey, or a link"
[ "$(stat -c '%U %a %s' /var/lib/relay/passkey)" = "relay 600 65" ] || fail "passkey: $(stat -c '%U %a %s' /var/lib/relay/passkey)"

echo "== the relay's packaged configuration is valid as it is"
relay check-config --config /etc/relay/relay.yaml

echo "== the edge's packaged configuration asks for its id and key"
if edge check-config --config /etc/edge/edge.yaml 2>/tmp/check.err; then fail "an edge without an id passed check-config"; fi
grep -q edge_id /tmp/check.err || { cat /tmp/check.err; fail "check-config did not name edge_id"; }

echo "== deploy/README.md, step by step"
key=$(relay edge-key --edge web-01 --config /etc/relay/relay.yaml | head -n 1)
printf '%s\n' "$key" | install -m 0600 -o edge -g edge /dev/stdin /etc/edge/key
sed -i -e 's/^edge_id: ""/edge_id: web-01/' -e 's/relay.internal:5514/127.0.0.1:5514/' /etc/edge/edge.yaml
install -m 0640 -o root -g adm /dev/null /var/log/auth.log
edge check-config --config /etc/edge/edge.yaml

echo "== both running, from the packages, as their users (and groups, as the units give them)"
setpriv --reuid relay --regid relay --init-groups relay run --config /etc/relay/relay.yaml >/tmp/relay.log 2>&1 &
relay_pid=$!
setpriv --reuid edge --regid edge --groups adm,systemd-journal edge run --config /etc/edge/edge.yaml >/tmp/edge.log 2>&1 &
edge_pid=$!
stop() { kill "$edge_pid" "$relay_pid" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
sleep 2
for port in 1 2 3 4 5 6; do
    echo "$(date '+%b %e %H:%M:%S') web01 sshd[4242]: Failed password for root from 203.0.113.9 port 5000$port ssh2" >> /var/log/auth.log
done
found=
for _ in $(seq 1 60); do
    if relay alerts --json --config /etc/relay/relay.yaml >/tmp/alerts.json 2>&1 \
        && grep '"kind": "brute_force"' /tmp/alerts.json | grep -q '"authenticated": true.*"edge": "web-01"'; then found=1; break; fi
    sleep 0.5
done
[ -n "$found" ] || { cat /tmp/edge.log /tmp/relay.log /tmp/alerts.json; fail "no brute_force incident at the relay"; }
relay alerts --config /etc/relay/relay.yaml
# The registry reaches the store every 5 s.
listed=
for _ in $(seq 1 30); do
    if relay status --config /etc/relay/relay.yaml >/tmp/status.txt 2>&1 && grep -q '^  web-01' /tmp/status.txt; then listed=1; break; fi
    sleep 0.5
done
cat /tmp/status.txt
[ -n "$listed" ] || fail "relay status does not list web-01"
stop
trap - EXIT

echo "== remove keeps the state, purge takes it"
apt-get remove -y -q airgap-edge airgap-relay >/dev/null
[ -f /var/lib/relay/passkey ] && [ -f /etc/relay/relay.yaml ] || fail "remove took the passkey or the configuration"
apt-get purge -y -q airgap-edge airgap-relay >/dev/null
[ ! -e /var/lib/relay ] && [ ! -e /var/lib/edge ] && [ ! -e /etc/relay/relay.yaml ] && [ ! -e /etc/edge/key ] \
    || fail "purge left state or the edge key behind"
echo "PASS: installed, configured, ran and purged without Swift or the network"
EOF
chmod +x "$root/tmp/inside.sh"

echo "== inside the fresh root, with no network but loopback"
unshare --mount --net --pid --fork sh -c '
    set -e
    ip link set lo up
    mount -t proc proc "$1/proc"
    mount --rbind /dev "$1/dev"
    mount -t tmpfs tmpfs "$1/run"
    if ip route get 1.1.1.1 >/dev/null 2>&1; then echo "FAIL: the namespace has a route out" >&2; exit 1; fi
    exec chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /tmp/inside.sh
' sh "$root"

echo "== under systemd: a second copy of the fresh root, booted (systemd-nspawn, private network)"
booted=$work/booted
mkdir -p "$booted"
tar -C "$booted" -xf "$tarball"
# (Not in /tmp: systemd-nspawn mounts a fresh tmpfs there.)
mkdir -p "$booted/root/airgap"
for deb in "${debs[@]}"; do cp "$deb" "$booted/root/airgap/"; done
cat > "$booted/root/airgap/inside-systemd.sh" <<'EOF'
#!/bin/sh
set -eu
fail() { echo "FAIL: $*" >&2; systemctl --no-pager status relay edge >&2 || true; journalctl --no-pager -n 40 >&2 || true; exit 1; }
apt-get install -y -q /root/airgap/airgap-edge_*.deb /root/airgap/airgap-relay_*.deb >/root/airgap/apt.log 2>&1 \
    || { cat /root/airgap/apt.log; fail "apt install"; }
echo "== systemctl enable --now relay (the packaged configuration, as installed)"
systemctl enable --now relay
key=$(relay edge-key --edge web-01 --config /etc/relay/relay.yaml | head -n 1)
printf '%s\n' "$key" | install -m 0600 -o edge -g edge /dev/stdin /etc/edge/key
sed -i -e 's/^edge_id: ""/edge_id: web-01/' -e 's/relay.internal:5514/127.0.0.1:5514/' /etc/edge/edge.yaml
install -m 0640 -o root -g adm /dev/null /var/log/auth.log
edge check-config --config /etc/edge/edge.yaml
echo "== systemctl enable --now edge"
systemctl enable --now edge
sleep 3
for unit in relay edge; do
    [ "$(systemctl is-active "$unit")" = active ] || fail "$unit is not active"
    [ "$(systemctl show -p User --value "$unit")" = "$unit" ] || fail "$unit does not run as $unit"
done
for unit in relay edge; do
    owner=$(stat -c %U "/proc/$(systemctl show -p MainPID --value "$unit")")
    [ "$owner" = "$unit" ] || fail "the $unit process runs as $owner"
done
systemctl show -p MemoryMax -p TasksMax -p LimitNOFILE relay edge
for port in 1 2 3 4 5 6; do
    echo "$(date '+%b %e %H:%M:%S') web01 sshd[4242]: Failed password for root from 203.0.113.9 port 5000$port ssh2" >> /var/log/auth.log
done
for _ in $(seq 1 60); do
    relay alerts --json --config /etc/relay/relay.yaml 2>/dev/null | grep '"kind": "brute_force"' \
        | grep -q '"authenticated": true.*"edge": "web-01"' && break
    sleep 0.5
done
relay alerts --json --config /etc/relay/relay.yaml | grep -q '"kind": "brute_force"' || fail "no brute_force incident under systemd"
relay alerts --config /etc/relay/relay.yaml
echo "== a killed edge is started again by systemd (Restart=always)"
before=$(systemctl show -p MainPID --value edge)
kill -9 "$before"
now=0
for _ in $(seq 1 30); do
    now=$(systemctl show -p MainPID --value edge)
    [ "$now" != 0 ] && [ "$now" != "$before" ] && [ "$(systemctl is-active edge)" = active ] && break
    sleep 0.5
done
[ "$now" != 0 ] && [ "$now" != "$before" ] || fail "systemd did not restart the edge"
systemctl stop edge relay
echo "PASS: under systemd, the units as shipped"
EOF
chmod +x "$booted/root/airgap/inside-systemd.sh"
systemd-nspawn -D "$booted" --boot --private-network --register=no --keep-unit --quiet > "$work/boot.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 1 100); do
    leader=$(pgrep -P "$nspawn_pid" -x systemd || true)
    [ -n "$leader" ] && break
    sleep 0.1
done
[ -n "$leader" ] || { cat "$work/boot.log"; fail "systemd-nspawn did not boot the root"; }
inside() { nsenter --target "$leader" --mount --uts --ipc --net --pid -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
state=
for _ in $(seq 1 120); do
    state=$(inside systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 0.5
done
case "$state" in running|degraded) ;; *) cat "$work/boot.log"; fail "the booted root is '$state'" ;; esac
if inside ip route get 1.1.1.1 >/dev/null 2>&1; then fail "the booted root has a route out"; fi
inside /root/airgap/inside-systemd.sh
kill "$nspawn_pid" 2>/dev/null || true
wait "$nspawn_pid" 2>/dev/null || true
nspawn_pid=
