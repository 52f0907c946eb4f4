#!/usr/bin/env bash
# EVTX reading speed, side by side on the same files in one run: `edge read-evtx --json`
# against the Rust-backed PyPI `evtx` (PyEvtxParser, one thread, records_json) and the
# pure-Python `python-evtx` (Debian python3-evtx, record XML). Prints records/s for each and
# the ratios, and the peak RSS of each while reading the largest sample.
#   bench/evtx.sh [DIR]   (default ../shared/testdata/evtx; needs pip install evtx and
#                          apt-get install python3-evtx)
# What each writes differs: PyEvtxParser renders every record whole as JSON, python-evtx as
# XML, edge the fields the product uses (record_id, event_id, channel, provider, computer,
# time, and every EventData/UserData value). All three decode every record completely.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-../shared/testdata/evtx}"
[ -d "$dir" ] || { echo "no EVTX samples at $dir"; exit 2; }
# The interpreter that has each module (pip's and Debian's may differ).
with_module() { for py in python3 /usr/bin/python3; do "$py" -c "import $1" 2>/dev/null && { echo "$py"; return; }; done; }
py_rust=$(with_module evtx)
py_pure=$(with_module Evtx.Evtx)
[ -n "$py_rust" ] || { echo "PyPI evtx missing: pip install evtx"; exit 2; }
[ -n "$py_pure" ] || { echo "python-evtx missing: apt-get install python3-evtx"; exit 2; }
source bench/edge-binary.sh
mkdir -p bench/out

python3 - "$dir" "$edge_bin" "$py_rust" "$py_pure" <<'PY'
import os, resource, statistics, subprocess, sys, time
root, edge, py_rust, py_pure = sys.argv[1:5]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".evtx"))
largest = max(files, key=os.path.getsize)
size = sum(os.path.getsize(f) for f in files)

rust = r'''
import sys, evtx
n = 0
with open(sys.argv[1], "w") as out:
    for path in sys.argv[2:]:
        records = evtx.PyEvtxParser(path, number_of_threads=1).records_json()
        while True:
            try:
                r = next(records)
            except StopIteration:
                break
            except Exception:
                continue  # a record it could not decode; it goes on with the next
            out.write(r["data"]); out.write("\n"); n += 1
print(n, file=sys.stderr)
'''
pure = r'''
import sys, Evtx.Evtx as E
n = 0
with open(sys.argv[1], "w") as out:
    for path in sys.argv[2:]:
        try:
            with E.Evtx(path) as log:
                for r in log.records():
                    try:
                        out.write(r.xml()); out.write("\n"); n += 1
                    except Exception:
                        pass
        except Exception:
            pass
print(n, file=sys.stderr)
'''

def once(argv, out):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL if out is None else open(out, "wb"), stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - t, p.stderr

def peak(argv):
    p = subprocess.run([sys.executable, "-c",
        "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"] + argv, capture_output=True, text=True, check=True)
    return int(p.stdout.strip()) / 1024

# edge and the Rust-backed parser alternate, 11 runs each, so a busy moment of the machine
# falls on both; medians are compared. python-evtx runs once (it takes minutes).
et, rt = [], []
for _ in range(11):
    et.append(once([edge, "read-evtx", "--json"] + files, "bench/out/evtx-edge.jsonl")[0])
    d, err = once([py_rust, "-c", rust, "bench/out/evtx-pyevtx.jsonl"] + files, None)
    rt.append(d)
    rrecords = int(err.split()[-1])
e, r = statistics.median(et), statistics.median(rt)
erecords = sum(1 for _ in open("bench/out/evtx-edge.jsonl", "rb"))
p, err = once([py_pure, "-c", pure, "bench/out/evtx-python-evtx.xml"] + files, None)
precords = int(err.split()[-1])
print(f"input: {len(files)} files, {size / 1e6:.1f} MB, largest {os.path.basename(largest)} ({os.path.getsize(largest) / 1e6:.1f} MB)")
print(f"edge read-evtx --json   : {e:8.3f} s  {erecords / e:10,.0f} records/s  ({erecords} records; runs {', '.join(f'{x:.3f}' for x in sorted(et))})")
print(f"evtx (Rust, 1 thread)   : {r:8.3f} s  {rrecords / r:10,.0f} records/s  ({rrecords} records; runs {', '.join(f'{x:.3f}' for x in sorted(rt))})")
print(f"python-evtx             : {p:8.3f} s  {precords / p:10,.0f} records/s  ({precords} records; one run)")
print(f"ratio edge/evtx (Rust): {(erecords / e) / (rrecords / r):.2f}x (best runs {(erecords / min(et)) / (rrecords / min(rt)):.2f}x); edge/python-evtx: {(erecords / e) / (precords / p):.1f}x (records/s)")
rust_one = [py_rust, "-c", rust, "/dev/null", largest]
print(f"peak RSS reading {os.path.basename(largest)}: edge {peak([edge, 'read-evtx', '--json', largest]):.1f} MiB, "
      f"evtx (Rust, with Python) {peak(rust_one):.1f} MiB, python-evtx {peak([py_pure, '-c', pure, '/dev/null', largest]):.1f} MiB")
PY
