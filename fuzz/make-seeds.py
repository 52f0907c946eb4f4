#!/usr/bin/env python3
"""Writes small seed inputs for each fuzz target into fuzz/seeds/ (committed)."""
import importlib.util, os, struct, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("wv", os.path.join(ROOT, "tools/wire-vectors.py"))
wv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wv)

root = wv.edge_key("fuzzing passkey, not a secret", "fuzz")
seeds = {t: [] for t in ("packet", "signed", "payload", "syslog", "framing")}
for i, events in enumerate([[wv.EV1], [wv.EV1, wv.EV2, wv.EV3], wv.BIG[:10]]):
    plain = wv.encode_events(events)
    for compress, seal in ((True, False), (False, False), (True, True)):
        flags, d, payload = wv.make_payload(plain, 1, "fuzz", 1, i + 1, compress, seal, root)
        pk = wv.packets(1, flags, d, "fuzz", 1, i + 1, 0, payload, 300, root)
        seeds["packet"] += pk
        seeds["signed"] += [p[:-16] for p in pk]
        if not seal:
            seeds["payload"].append(bytes([flags | (d << 1)]) + payload)
        for p in pk[:1]:
            seeds["syslog"].append(wv.syslog_text("h", "fuzz", 1, i + 1, 0, "1/%d" % len(pk), p).encode())
seeds["syslog"] += [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed",
    b'<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\\"x\\]"][p@1 class="high"]',
    b"Nov 29 16:10:15 web-01 sshd[4242]: Failed password for root from 203.0.113.9 port 51234 ssh2",
    b"<86>2026-11-29T16:10:15.123456+08:00 web-01 useradd[4300]: new user: name=bob, UID=1001",
]
seeds["framing"] += [b"5 hello11 hello world", b"<13>one\r\n<13>two\n", b"999999999 abc", b"<1>" + b"x" * 600 + b"\nok\n"]
for target, items in seeds.items():
    folder = os.path.join(ROOT, "fuzz/seeds", target)
    os.makedirs(folder, exist_ok=True)
    for n, data in enumerate(items):
        open(os.path.join(folder, "seed-%02d" % n), "wb").write(data)
    print(target, len(items))
