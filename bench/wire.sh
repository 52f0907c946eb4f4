#!/usr/bin/env bash
# Wire micro-benchmark: release build, real auth-log lines from ../shared/testdata.
#   bench/wire.sh [LOG] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
log="${1:-../shared/testdata/linux-auth/loghub-2.0/2k_dataset/OpenSSH/OpenSSH_2k.log}"
seconds="${2:-3}"
[ -f "$log" ] || { echo "no input at $log (../shared/testdata missing?)"; exit 2; }
swift build -c release --product wire-bench 2>&1 | tail -n 1
.build/release/wire-bench "$log" "$seconds"
