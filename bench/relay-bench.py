"""Driver of bench/relay.sh: runs the relay and rsyslog under loggen, and the relay under
relay-load, and prints the figures. Every server listens on loopback only."""
import os, re, subprocess, sys, tempfile, time, urllib.request

loggen_root, step_seconds = os.path.abspath(sys.argv[1]), int(sys.argv[2])
# "flood" runs only the flood (section 4); "all" (default) runs everything.
only = sys.argv[3] if len(sys.argv) > 3 else "all"
# Network syslog carries a PRI: with it, LF framing over TCP is unambiguous for both servers
# (a line starting with a digit would read as an octet count).
log = os.path.abspath("bench/out/auth-200000.pri.log")
if not os.path.exists(log):
    with open("bench/out/auth-200000.log") as src, open(log, "w") as dst:
        for line in src:
            dst.write("<38>" + line)
# RELAY_BIN=path runs another relay binary (an older build, to compare).
relay_bin = os.path.abspath(os.environ.get("RELAY_BIN", ".build/release/relay"))
load_bin = os.path.abspath(".build/release/relay-load")
env = dict(os.environ, SYSLOGNG_PREFIX=f"{loggen_root}/usr",
           LD_LIBRARY_PATH=f"{loggen_root}/usr/lib/syslog-ng:{loggen_root}/usr/lib/x86_64-linux-gnu")
PASSKEY = "relay benchmark passkey, 32 bytes"
RATES = [25_000, 50_000, 100_000, 150_000, 175_000, 200_000, 250_000, 300_000]


def loggen(port, rate, count, tcp):
    args = [f"{loggen_root}/usr/bin/loggen", "--inet", "--stream" if tcp else "--dgram", "-r", str(rate), "-n", str(count),
            "-l", "-R", log, "-d", "-Q", "127.0.0.1", str(port)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=step_seconds * 10 + 60)
    m = re.findall(r"average rate = ([\d.]+) msg/sec, count=(\d+)", out.stderr + out.stdout)
    return (int(m[-1][1]), float(m[-1][0])) if m else (count, float(rate))


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def settle(read, expected, patience=3.0):
    """Waits until `read()` reaches `expected` or stops growing for `patience` seconds."""
    last, since = read(), time.time()
    while last < expected and time.time() - since < patience:
        time.sleep(0.2)
        now = read()
        if now != last:
            last, since = now, time.time()
    return last


def cpu_seconds(pid):
    """User and system CPU of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Relay:
    def __init__(self, port, http):
        self.dir = tempfile.mkdtemp(prefix="relay-bench-")
        cfg = os.path.join(self.dir, "relay.yaml")
        with open(cfg, "w") as f:
            f.write(f'listen:\n  - udp: "127.0.0.1:{port}"\n  - tcp: "127.0.0.1:{port}"\nhttp: "127.0.0.1:{http}"\n'
                    f'data_directory: {self.dir}/data\npasskey: "{PASSKEY}"\n')  # every other setting its default
        self.http = http
        self.proc = subprocess.Popen([relay_bin, "run", "--config", cfg, "--log-level", "error"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                metric(http, "relay_uptime_seconds")
                return
            except Exception:
                time.sleep(0.1)

    def received(self, transport):
        return metric(self.http, f'relay_messages_total{{transport="{transport}"}}')

    def dropped(self):
        # Every reason: a full queue, a sender over its rate, ...
        return metric(self.http, "relay_dropped_total")

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Rsyslog:
    def __init__(self, port):
        self.dir = tempfile.mkdtemp(prefix="rsyslog-bench-")
        self.out = os.path.join(self.dir, "out.log")
        cfg = os.path.join(self.dir, "rsyslog.conf")
        with open(cfg, "w") as f:
            # The same kernel receive buffer as the relay's: both ask for 64 MiB as root, which
            # Linux doubles (`ss -uam` shows rb134217728 for both).
            f.write(f'global(workDirectory="{self.dir}")\nmodule(load="imudp")\nmodule(load="imtcp")\n'
                    f'input(type="imudp" address="127.0.0.1" port="{port}" rcvbufSize="64m")\n'
                    f'input(type="imtcp" address="127.0.0.1" port="{port}")\n'
                    f'*.* action(type="omfile" file="{self.out}")\n')
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", cfg, "-i", os.path.join(self.dir, "pid")])
        time.sleep(1.5)

    def dropped(self):
        return 0  # rsyslog's loss shows as lines missing from its file

    def received(self, _transport):
        try:
            with open(self.out, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def highest_rate(server, port, tcp):
    transport = "tcp" if tcp else "udp"
    best, rows = 0, []
    for rate in RATES:
        before, dropped_before = server.received(transport), server.dropped()
        sent, achieved = loggen(port, rate, rate * step_seconds, tcp)
        # Zero loss: every message received, and none dropped after it was received.
        got = settle(lambda: server.received(transport) - before, sent) - (server.dropped() - dropped_before)
        rows.append((rate, sent, got, achieved))
        if got < sent:
            break
        best = rate
    return best, rows


def flood():
    """4. A paced flood of failed passwords over UDP, every message an event (1,000 sources,
    1,000,000 messages at 80,000/s), to the relay on its default configuration and to
    rsyslog writing a file: what each received, what the relay stored and dropped, and the
    CPU each spent per message."""
    path = os.path.abspath("bench/out/flood-1000000.log")
    if not os.path.exists(path):
        with open(path, "w") as f:
            for n in range(1_000_000):
                f.write(f"<38>Dec  6 10:{n // 60000 % 60:02d}:{n // 1000 % 60:02d} web-{n % 7:02d} sshd[{1000 + n % 5000}]: "
                        f"Failed password for invalid user u{n % 977} from 10.{n % 1000 // 256}.{n % 256}.{7 + n % 3} port {1024 + n % 60000} ssh2\n")
    count, rate = 1_000_000, 80_000
    for name in ("relay", "rsyslog"):
        server = Relay(25618, 29618) if name == "relay" else Rsyslog(25619)
        port = 25618 if name == "relay" else 25619
        try:
            cpu0 = cpu_seconds(server.proc.pid)
            args = [f"{loggen_root}/usr/bin/loggen", "--inet", "--dgram", "-r", str(rate), "-n", str(count), "-I", str(count // rate + 10), "-l", "-R", path, "-d", "-Q",
                    "127.0.0.1", str(port)]
            out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
            m = re.findall(r"average rate = ([\d.]+) msg/sec, count=(\d+)", out.stderr + out.stdout)
            sent, achieved = (int(m[-1][1]), float(m[-1][0])) if m else (count, float(rate))
            got = settle(lambda: server.received("udp"), sent, patience=5.0)
            if name == "relay":
                stored = settle(lambda: metric(29618, "relay_stored_events_total"), got, patience=5.0)
                dropped = metric(29618, "relay_dropped_total")
                text = urllib.request.urlopen("http://127.0.0.1:29618/metrics", timeout=5).read().decode()
                reasons = ", ".join(f"{r} {int(float(v)):,}" for r, v in re.findall(r'relay_dropped_total\{reason="([^"]+)"\} ([0-9.e+]+)', text)) or "none"
            cpu = cpu_seconds(server.proc.pid) - cpu0
            line = (f"flood {name:8s}: sent {sent:,} at {achieved:,.0f}/s, received {got:,} (lost at the socket {sent - got:,}), "
                    f"CPU {cpu:.1f} s = {cpu / max(got, 1) * 1e6:.1f} us per message")
            if name == "relay":
                line += f"; events stored {stored:,}, dropped {dropped:,} ({reasons}); peak RSS {server.peak_rss_mib():.0f} MiB"
            print(line, flush=True)
        finally:
            server.stop()


if only == "flood":
    flood()
    sys.exit(0)

results = {}
for tcp in (False, True):
    transport = "TCP" if tcp else "UDP"
    for name, make in (("relay", lambda: Relay(25614, 29614)), ("rsyslog", lambda: Rsyslog(25615))):
        server = make()
        port = 25614 if name == "relay" else 25615
        try:
            best, rows = highest_rate(server, port, tcp)
        finally:
            server.stop()
        results[(transport, name)] = best
        for rate, sent, got, achieved in rows:
            print(f"{transport} {name:8s} {rate:>8,}/s for {step_seconds} s: sent {sent:>9,} (loggen's average {achieved:>9,.0f}/s) "
                  f"received {got:>9,} lost {sent - got:>7,}")
    r, s = results[(transport, "relay")], results[(transport, "rsyslog")]
    print(f"{transport}: highest rate with zero loss: relay {r:,}/s, rsyslog {s:,}/s, ratio {r / s if s else float('inf'):.2f}")

# Edge frames from one edge, over TCP: decoded events/s and stored events/s.
relay = Relay(25616, 29616)
try:
    out = subprocess.run([load_bin, "--port", "25616", "--passkey", PASSKEY, "--edges", "1", "--frames", "4000", "--events", "64"],
                         capture_output=True, text=True, check=True).stdout
    start = float(re.search(r"start=([\d.]+)", out).group(1))
    events = int(re.search(r"events=(\d+)", out).group(1))
    decoded_at = stored_at = None
    while time.time() - start < 120 and (decoded_at is None or stored_at is None):
        if decoded_at is None and metric(29616, "relay_edge_events_total") >= events:
            decoded_at = time.time()
        if stored_at is None and metric(29616, "relay_stored_events_total") >= events:
            stored_at = time.time()
        time.sleep(0.01)
    print(out.splitlines()[0])
    print(f"edge frames: {events:,} events verified and decoded in {decoded_at - start:.2f} s = {events / (decoded_at - start):,.0f} events/s; "
          f"stored (SQLite, with correlation) in {stored_at - start:.2f} s = {events / (stored_at - start):,.0f} events/s")
finally:
    relay.stop()

# 1,000 edges: a heartbeat and 5 frames of 16 events each.
relay = Relay(25617, 29617)
try:
    out = subprocess.run([load_bin, "--port", "25617", "--passkey", PASSKEY, "--edges", "1000", "--frames", "5", "--events", "16", "--heartbeats"],
                         capture_output=True, text=True, check=True).stdout
    events = int(re.search(r"events=(\d+)", out).group(1))
    settle(lambda: metric(29617, "relay_stored_events_total"), events)
    time.sleep(6)  # one housekeeping tick saves the registry
    edges = metric(29617, "relay_edges")
    print(f"1,000 edges: {edges} edges registered, {metric(29617, 'relay_edge_events_total'):,} events; peak RSS {relay.peak_rss_mib():.1f} MiB")
finally:
    relay.stop()

flood()
