#!/usr/bin/env python3
"""Independent reference implementation of Wire v1 (docs/wire-protocol.md), in Python.

It writes Tests/WireTests/Vectors/wire-vectors.json: fixed passkey and inputs, and the exact
keys, payloads, packets and syslog messages the protocol defines for them. The Swift tests
must reproduce every byte. Written from the document, not from the Swift code, so the two
implementations check each other and the document.

    python3 tools/wire-vectors.py           # rewrite the vectors
    python3 tools/wire-vectors.py --check   # exit 1 if the committed file differs
"""
import base64, hashlib, hmac, json, os, re, struct, sys, zlib
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/WireTests/Vectors/wire-vectors.json")


def hkdf(ikm, salt, info, n=32):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


def edge_key(passkey, edge_id, generation=1):
    """Generation 1 is the key every edge starts with; a rotated key is generation 2, 3, ..."""
    info = b"edge\x00" + edge_id.encode()
    if generation != 1:
        info += b"\x00" + str(generation).encode()
    return hkdf(passkey.encode(), b"wire/v1", info)


def mac_key(root):
    return hkdf(root, None, b"mac")


def seal_key(root):
    return hkdf(root, None, b"seal")


def dictionary_auth_v1():
    """The auth-v1 dictionary: the Swift string literal, indentation removed as Swift does."""
    src = open(os.path.join(ROOT, "Sources/Wire/Compression/PresetDictionary.swift")).read()
    body = src.split('authV1Text = """\n', 1)[1].split('\n        """', 1)[0]
    lines = [l[8:] if l.startswith(" " * 8) else l.lstrip(" ") for l in body.split("\n")]
    return "\n".join(lines).encode()


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def zigzag(v):
    return (v << 1) ^ (v >> 63) if v >= 0 else ((v << 1) ^ -1) & 0xFFFFFFFFFFFFFFFF


FIELDS = [  # (number, vocabulary name, is integer)
    (1, "kind", False), (2, "outcome", False), (3, "time_us", True), (4, "host", False),
    (5, "program", False), (6, "pid", True), (7, "user", False), (8, "target_user", False),
    (9, "group", False), (10, "source_ip", False), (11, "source_port", True), (12, "method", False),
    (13, "logon_type", True), (14, "rule", False), (15, "severity", False), (16, "raw", False),
]


def encode_event(e):
    out = bytearray()
    for number, name, is_int in FIELDS:
        if name not in e:
            continue
        if is_int:
            out += varint(number << 3) + varint(zigzag(e[name]))
        else:
            b = e[name].encode()
            out += varint(number << 3 | 2) + varint(len(b)) + b
    return bytes(out)


def encode_events(events):
    out = bytearray(varint(len(events)))
    for e in events:
        rec = encode_event(e)
        out += varint(len(rec)) + rec
    return bytes(out)


def encode_heartbeat(h):
    out = bytearray(varint(1 << 3) + varint(h["uptime_seconds"]))
    for name in sorted(h["counters"]):
        n = name.encode()
        entry = varint(1 << 3 | 2) + varint(len(n)) + n + varint(2 << 3) + varint(h["counters"][name])
        out += varint(2 << 3 | 2) + varint(len(entry)) + entry
    for s in h["sources"]:
        entry = bytearray()
        for number, key in ((1, "name"), (2, "state"), (3, "detail")):
            if key in s:
                b = s[key].encode()
                entry += varint(number << 3 | 2) + varint(len(b)) + b
        out += varint(3 << 3 | 2) + varint(len(entry)) + entry
    return bytes(out)


def header(kind, flags, dict_id, edge_id, epoch, seq):
    eid = edge_id.encode()
    return bytes([1, kind, flags, dict_id, len(eid)]) + eid + struct.pack(">IQ", epoch, seq)


def make_payload(plain, kind, edge_id, epoch, seq, compress, seal, root):
    flags, dict_id, payload = 0, 0, plain
    if compress:
        c = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=dictionary_auth_v1())
        z = c.compress(plain) + c.flush()
        if len(z) < len(plain):
            flags, dict_id, payload = 1, 1, z
    if seal:
        flags |= 2
        nonce = struct.pack(">IQ", epoch, seq)
        aad = header(kind, flags, dict_id, edge_id, epoch, seq)
        payload = ChaCha20Poly1305(seal_key(root)).encrypt(nonce, payload, aad)
    return flags, dict_id, payload


def packets(kind, flags, dict_id, edge_id, epoch, seq, send_ms, payload, chunk, root):
    n = max(1, -(-len(payload) // chunk))
    out = []
    for i in range(n):
        part = payload[i * chunk:(i + 1) * chunk]
        body = (header(kind, flags, dict_id, edge_id, epoch, seq) + struct.pack(">qIBBH", send_ms, len(payload), i, n, len(part)) + part)
        tag = hmac.new(mac_key(root), body, hashlib.sha256).digest()[:16]
        out.append(body + tag)
    return out


def rfc3339_ms(ms):
    import datetime
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def syslog_text(hostname, edge_id, epoch, seq, send_ms, position, packet):
    return ('<110>1 %s %s edge - WIRE1 [wire@32473 v="1" id="%s" ep="%d" seq="%d" frag="%s"] wire1:%s'
            % (rfc3339_ms(send_ms), hostname, edge_id, epoch, seq, position, base64.b64encode(packet).decode()))


def max_chunk(hostname, edge_id, epoch, seq, budget):
    fixed = len(syslog_text(hostname, edge_id, epoch, seq, 0, "255/255", b"").encode())
    return min(65535, (budget - fixed) // 4 * 3 - (33 + len(edge_id.encode()) + 16))


PASSKEY = "correct horse battery staple 2026"
LINE1 = "2026-11-29T16:10:15.123456+08:00 web-01 sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2"
LINE2 = "2026-11-29T16:10:17.000001+08:00 web-01 sshd[4242]: Accepted password for root from 203.0.113.9 port 51240 ssh2"
EV1 = {"kind": "login", "outcome": "failure", "time_us": 1795939815123456, "host": "web-01", "program": "sshd",
       "pid": 4242, "user": "admin", "source_ip": "203.0.113.9", "source_port": 51234, "method": "password",
       "rule": "sshd.failed_password", "severity": "medium", "raw": LINE1}
EV2 = {"kind": "login", "outcome": "success", "time_us": 1795939817000001, "host": "web-01", "program": "sshd",
       "pid": 4242, "user": "root", "source_ip": "203.0.113.9", "source_port": 51240, "method": "password",
       "rule": "sshd.accepted", "severity": "high", "raw": LINE2}
EV3 = {"kind": "group.member_added", "outcome": "success", "time_us": 1795939900000000, "host": "web-01",
       "program": "usermod", "pid": 4300, "target_user": "bob", "group": "sudo", "rule": "usermod.add_group",
       "severity": "critical", "raw": "2026-11-29T16:11:40.000000+08:00 web-01 usermod[4300]: add 'bob' to group 'sudo'"}
BIG = [dict(EV1, source_port=40000 + i, pid=5000 + i, time_us=EV1["time_us"] + i * 1000003,
            raw=LINE1.replace("51234", str(40000 + i)).replace("4242", str(5000 + i)) + " #" + "x" * (i * 37 % 300))
       for i in range(40)]

CASES = [
    {"name": "one-event", "edge_id": "web-01", "hostname": "web-01", "epoch": 1795939800, "sequence": 1,
     "send_time_ms": 1795939815200, "compress": True, "seal": False, "budget_bytes": 1400, "events": [EV1]},
    {"name": "three-events-sealed", "edge_id": "web-01", "hostname": "web-01", "epoch": 1795939800, "sequence": 2,
     "send_time_ms": 1795939900100, "compress": True, "seal": True, "budget_bytes": 1400, "events": [EV1, EV2, EV3]},
    {"name": "uncompressed", "edge_id": "db.internal_2", "hostname": "db2", "epoch": 7, "sequence": 18446744073709551615,
     "send_time_ms": 0, "compress": False, "seal": False, "budget_bytes": 8000, "events": [EV3]},
    {"name": "fragmented", "edge_id": "web-01", "hostname": "web-01", "epoch": 1795939800, "sequence": 3,
     "send_time_ms": 1795940000000, "compress": True, "seal": False, "budget_bytes": 600, "events": BIG},
    {"name": "heartbeat", "edge_id": "web-01", "hostname": "web-01", "epoch": 1795939800, "sequence": 4,
     "send_time_ms": 1795940030000, "compress": True, "seal": False, "budget_bytes": 1400,
     "heartbeat": {"uptime_seconds": 230, "counters": {"lines_read": 1200, "events": 41, "frames_sent": 3, "spool_depth": 0},
                   "sources": [{"name": "/var/log/auth.log", "state": "following", "detail": "offset 88211"}]}},
]


def build():
    cases = []
    for c in CASES:
        root = edge_key(PASSKEY, c["edge_id"])
        kind = 2 if "heartbeat" in c else 1
        plain = encode_heartbeat(c["heartbeat"]) if kind == 2 else encode_events(c["events"])
        flags, dict_id, payload = make_payload(plain, kind, c["edge_id"], c["epoch"], c["sequence"], c["compress"], c["seal"], root)
        chunk = max_chunk(c["hostname"], c["edge_id"], c["epoch"], c["sequence"], c["budget_bytes"])
        pk = packets(kind, flags, dict_id, c["edge_id"], c["epoch"], c["sequence"], c["send_time_ms"], payload, chunk, root)
        msgs = [syslog_text(c["hostname"], c["edge_id"], c["epoch"], c["sequence"], c["send_time_ms"], "%d/%d" % (i + 1, len(pk)), p)
                for i, p in enumerate(pk)]
        assert all(len(m.encode()) <= c["budget_bytes"] for m in msgs)
        out = dict(c)
        out.update({"edge_key_hex": root.hex(), "mac_key_hex": mac_key(root).hex(), "seal_key_hex": seal_key(root).hex(),
                    "plain_payload_hex": plain.hex(), "flags": flags, "dictionary_id": dict_id,
                    "payload_hex": payload.hex(), "max_chunk_bytes": chunk,
                    "packets_hex": [p.hex() for p in pk], "syslog": msgs})
        cases.append(out)
    generations = [{"edge_id": e, "generation": g, "edge_key_hex": edge_key(PASSKEY, e, g).hex()}
                   for e, g in [("web-01", 1), ("web-01", 2), ("web-01", 10), ("db.internal_2", 65535)]]
    return {"passkey": PASSKEY, "dictionary_auth_v1_sha256": hashlib.sha256(dictionary_auth_v1()).hexdigest(),
            "dictionary_auth_v1_bytes": len(dictionary_auth_v1()), "cases": cases, "edge_key_generations": generations}


if __name__ == "__main__":
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        same = os.path.exists(OUT) and open(OUT).read() == text
        print("wire vectors: " + ("the Python reference agrees with " if same else "MISMATCH with ") + os.path.relpath(OUT, ROOT))
        sys.exit(0 if same else 1)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    open(OUT, "w").write(text)
    print("wrote", os.path.relpath(OUT, ROOT))
