#!/usr/bin/env bash
# Detection speed, side by side: `edge test-rules` against `fail2ban-regex FILE sshd` on the
# same generated auth log, one thread each. Prints lines/s for both and the ratio.
#   bench/rules.sh [LINES]      (default 200000; needs fail2ban: apt-get install fail2ban)
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-200000}"
mkdir -p bench/out
log="bench/out/auth-$lines.log"
[ -f "$log" ] || python3 bench/gen-authlog.py "$lines" "$log"
command -v fail2ban-regex >/dev/null || { echo "fail2ban-regex missing: apt-get install fail2ban"; exit 2; }
source bench/edge-binary.sh

now() { date +%s.%N; }
t0=$(now); events=$("$edge_bin" test-rules "$log" | wc -l); t1=$(now)
t2=$(now); f2b=$(fail2ban-regex "$log" sshd 2>/dev/null | grep -E '^Lines:' || true); t3=$(now)
python3 - "$lines" "$t0" "$t1" "$t2" "$t3" "$events" "$f2b" <<'PY'
import sys
n, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:6])
edge, f2b = n / (t1 - t0), n / (t3 - t2)
print(f"input: {n} lines")
print(f"edge test-rules : {t1 - t0:8.2f} s  {edge:12,.0f} lines/s  ({sys.argv[6]} events)")
print(f"fail2ban-regex  : {t3 - t2:8.2f} s  {f2b:12,.0f} lines/s  ({sys.argv[7]})")
print(f"ratio edge/fail2ban: {edge / f2b:.1f}x")
PY
