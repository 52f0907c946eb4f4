#!/usr/bin/env bash
# Relay benchmarks, release build, one run:
#  1. plain syslog over UDP and TCP: the highest rate with zero loss for the relay (parsing
#     and running the rules, storing what they find) and for rsyslog (imudp/imtcp to a
#     file), same generator (syslog-ng's loggen) and same input; prints the ratio;
#  2. edge frames: events per second verified, reassembled, inflated and decoded, and
#     stored, from one edge over TCP;
#  3. peak RSS of the relay with 1,000 simulated edges;
#  4. a flood of failed passwords over UDP (1,000,000 at 80,000/s, every one an event) to the
#     relay on its default configuration and to rsyslog: received, stored, dropped, CPU per
#     message for both.
#   bench/relay.sh [SECONDS_PER_STEP] [flood]     (default 10; `flood` runs only section 4)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
[ -f bench/out/auth-200000.log ] || python3 bench/gen-authlog.py 200000 bench/out/auth-200000.log
swift build -c release --product relay 2>&1 | tail -n 1
swift build -c release --product relay-load 2>&1 | tail -n 1
command -v rsyslogd >/dev/null || { echo "rsyslogd missing: apt-get install rsyslog"; exit 2; }
# loggen comes with syslog-ng-core, which conflicts with rsyslog: unpack it beside us.
loggen_root=bench/out/loggen
if [ ! -x "$loggen_root/usr/bin/loggen" ]; then
    (cd bench/out && apt-get download syslog-ng-core >/dev/null 2>&1 && dpkg -x syslog-ng-core_*.deb loggen && rm -f syslog-ng-core_*.deb)
fi
exec python3 bench/relay-bench.py "$loggen_root" "${1:-10}" "${2:-all}"
