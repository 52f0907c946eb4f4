#!/usr/bin/env python3
"""Writes a realistic auth.log (RFC 3339 timestamps, as Debian 12's rsyslog writes it).

    bench/gen-authlog.py LINES OUT [--format rfc3339|traditional]

The mix follows a server under SSH brute force with normal administration around it: failed
passwords and invalid users with their PAM and preauth lines, accepted logins and sessions,
sudo and su, cron sessions, and a few account changes. Deterministic (fixed seed).
"""
import random, sys, datetime

n = int(sys.argv[1]); out = sys.argv[2]
fmt = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--format" else "rfc3339"
rng = random.Random(42)
users = ["root", "admin", "test", "oracle", "postgres", "ubuntu", "git", "user", "guest", "ftpuser", "deploy", "www"]
locals_ = ["alice", "bob", "carol", "deploy"]
t = datetime.datetime(2026, 11, 29, 0, 0, 0, tzinfo=datetime.timezone.utc)
pid = 20000

def stamp():
    if fmt == "traditional":
        return t.strftime("%b %e %H:%M:%S").replace("  ", "  ")
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%06d+00:00" % rng.randrange(1000000)

def ip():
    return "%d.%d.%d.%d" % (rng.choice([45, 61, 103, 112, 185, 193, 203, 218]), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))

lines = []
def emit(prog, msg, p=None):
    lines.append("%s web-01 %s%s: %s" % (stamp(), prog, "[%d]" % p if p else "", msg))

while len(lines) < n:
    t += datetime.timedelta(milliseconds=rng.randrange(5, 900))
    pid += 1
    r = rng.random()
    src, port = ip(), rng.randrange(1024, 65535)
    if r < 0.45:
        u = rng.choice(users)
        if rng.random() < 0.5:
            emit("sshd", "Invalid user %s from %s port %d" % (u, src, port), pid)
            emit("sshd", "pam_unix(sshd:auth): check pass; user unknown", pid)
            emit("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s " % src, pid)
            emit("sshd", "Failed password for invalid user %s from %s port %d ssh2" % (u, src, port), pid)
            emit("sshd", "Connection closed by invalid user %s %s port %d [preauth]" % (u, src, port), pid)
        else:
            emit("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=%s" % (src, u), pid)
            emit("sshd", "Failed password for %s from %s port %d ssh2" % (u, src, port), pid)
            emit("sshd", "Received disconnect from %s port %d:11: Bye Bye [preauth]" % (src, port), pid)
            emit("sshd", "Disconnected from authenticating user %s %s port %d [preauth]" % (u, src, port), pid)
    elif r < 0.55:
        emit("sshd", "Connection closed by %s port %d [preauth]" % (src, port), pid)
    elif r < 0.65:
        u = rng.choice(locals_)
        emit("sshd", "Accepted publickey for %s from 10.0.%d.%d port %d ssh2: ED25519 SHA256:%s" % (u, rng.randrange(256), rng.randrange(256), port, "qPbiMt2q8KEUGvBM2oeoEMrbJUnlqdchr6s3R4Yhbio"), pid)
        emit("sshd", "pam_unix(sshd:session): session opened for user %s(uid=1001) by (uid=0)" % u, pid)
        emit("systemd-logind", "New session %d of user %s." % (pid % 1000, u), 700)
    elif r < 0.80:
        emit("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", pid)
        emit("CRON", "pam_unix(cron:session): session closed for user root", pid)
    elif r < 0.90:
        u = rng.choice(locals_)
        emit("sudo", "%8s : TTY=pts/%d ; PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx" % (u, rng.randrange(5), u))
        emit("sudo", "pam_unix(sudo:session): session opened for user root(uid=0) by %s(uid=1001)" % u)
        emit("sudo", "pam_unix(sudo:session): session closed for user root")
    elif r < 0.95:
        emit("su", "(to root) %s on pts/%d" % (rng.choice(locals_), rng.randrange(5)), pid)
        emit("su", "pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1001)", pid)
    elif r < 0.98:
        emit("systemd-logind", "Removed session %d." % (pid % 1000), 700)
    else:
        u = "svc%d" % rng.randrange(1000)
        emit("useradd", "new group: name=%s, GID=%d" % (u, 2000 + pid % 1000), pid)
        emit("useradd", "new user: name=%s, UID=%d, GID=%d, home=/home/%s, shell=/bin/bash, from=/dev/pts/0" % (u, 2000 + pid % 1000, 2000 + pid % 1000, u), pid)
        emit("usermod", "add '%s' to group 'sudo'" % u, pid + 1)
with open(out, "w") as f:
    f.write("\n".join(lines[:n]) + "\n")
