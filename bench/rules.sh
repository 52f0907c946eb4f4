#!/usr/bin/env bash
# Detection speed, side by side: `edge test-rules` against `fail2ban-regex FILE sshd` on the
# same generated auth log, one thread each. Prints lines/s for both and the ratio of the medians,
# for the text report and for --json (events built in full and written: the product path).
#   bench/rules.sh [LINES]      (default 200000; needs fail2ban: apt-get install fail2ban)
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-200000}"
mkdir -p bench/out
log="bench/out/auth-$lines.log"
[ -f "$log" ] || python3 bench/gen-authlog.py "$lines" "$log"
command -v fail2ban-regex >/dev/null || { echo "fail2ban-regex missing: apt-get install fail2ban"; exit 2; }
source bench/edge-binary.sh

# Each program is timed on its own (start to exit, output to a file in bench/out), edge
# 5 times and fail2ban 3 times; the medians are compared.
python3 - "$lines" "$log" "$edge_bin" <<'PY'
import statistics, subprocess, sys, time
n, log, edge = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def timed(argv, out, runs):
    times = []
    for _ in range(runs):
        with open(out, "wb") as f:
            t = time.perf_counter()
            subprocess.run(argv, stdout=f, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t)
    return statistics.median(times), times
e, et = timed([edge, "test-rules", log], "bench/out/rules-edge.txt", 5)
# The product path: every event built in full and written as JSON, as the running edge
# writes its journal.
j, jt = timed([edge, "test-rules", "--json", log], "bench/out/rules-edge.jsonl", 5)
f, ft = timed(["fail2ban-regex", log, "sshd"], "bench/out/rules-fail2ban.txt", 3)
events = sum(1 for _ in open("bench/out/rules-edge.txt", "rb"))
# The release build's JSON is checked, not only timed: every line an object whose raw is the
# input line it names, with a well-formed time, and as many events as the text report has.
import json, re
inputs = open(log, "rb").read().split(b"\n")
stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
checked = 0
for text in open("bench/out/rules-edge.jsonl", "rb"):
    o = json.loads(text)
    assert o["raw"].encode() == inputs[o["line"] - 1].rstrip(b"\r"), f"raw differs from line {o['line']}"
    assert stamp.match(o["time"]), f"bad time {o['time']!r} on line {o['line']}"
    assert o["kind"] and o["rule"] and o["input"] == log
    checked += 1
assert checked == events, f"JSON has {checked} events, the text report {events}"
summary = next((l.strip() for l in open("bench/out/rules-fail2ban.txt") if l.startswith("Lines:")), "?")
print(f"input: {n} lines")
print(f"edge test-rules        : {e:8.3f} s  {n / e:12,.0f} lines/s  ({events} events; runs {', '.join(f'{x:.3f}' for x in et)})")
print(f"edge test-rules --json : {j:8.3f} s  {n / j:12,.0f} lines/s  (runs {', '.join(f'{x:.3f}' for x in jt)})")
print(f"fail2ban-regex         : {f:8.3f} s  {n / f:12,.0f} lines/s  ({summary}; runs {', '.join(f'{x:.2f}' for x in ft)})")
print(f"ratio edge/fail2ban: text {f / e:.1f}x, JSON (the product path) {f / j:.1f}x (medians)")
PY
