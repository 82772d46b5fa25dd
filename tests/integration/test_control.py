"""The control socket under hostile and careless users (issue 21, findings
3-5): read-only members and operators, bounded silences that reach the
sinks, import-report reading only the descriptor smtpwatchctl passes, and
bounds on replies, connections and request time.

Runs as root: it creates two Unix users and two groups for the test
(removed at the end) and runs smtpwatchctl as them with runuser."""

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SCALE, SMTPWATCHCTL, WRAP, Env, check, finish, wait_for  # noqa: E402

# Built with ASan, freed memory waits in a 256 MB quarantine before it is
# reused, so the pipelining check would measure ASan, not the daemon: a
# small quarantine keeps use-after-free detection and a bounded heap.
os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8").lstrip(":")

TAG = "swc%d" % (os.getpid() % 100000)
SOCK_GROUP = TAG + "sock"
OPS_GROUP = TAG + "ops"
READER = TAG + "r"      # in socket_group only
OPERATOR = TAG + "o"    # in socket_group and operator_group
# The other users cannot run root's interpreter (a pyenv shim under /root).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def make_users():
    for g in (SOCK_GROUP, OPS_GROUP):
        sh("groupadd", g)
    sh("useradd", "-M", "-N", "-g", "nogroup", "-G", SOCK_GROUP, "-s", "/bin/sh", READER)
    sh("useradd", "-M", "-N", "-g", "nogroup", "-G", SOCK_GROUP + "," + OPS_GROUP, "-s", "/bin/sh", OPERATOR)
    for u in (READER, OPERATOR):
        pwd.getpwnam(u)  # KeyError here: useradd failed


def remove_users():
    for u in (READER, OPERATOR):
        sh("userdel", u)
    for g in (SOCK_GROUP, OPS_GROUP):
        sh("groupdel", g)


def ctl_as(env, user, *args, json_out=True, timeout=30):
    """smtpwatchctl as another user: (exit code, parsed JSON or text)."""
    cmd = ["runuser", "-u", user, "--", SMTPWATCHCTL, "-s", env.socket] + (["--json"] if json_out else []) + \
        list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * SCALE)
    if json_out and p.returncode == 0:
        return p.returncode, json.loads(p.stdout)
    return p.returncode, p.stdout + p.stderr


def hook_docs(env):
    return [json.loads(h["body"]) for h in env.sim.hooks("soc")]


def silence_events(env):
    return [d for d in hook_docs(env) if d.get("rule") == "silence-changed"]


def test_roles(env):
    """Members of socket_group read; only operators change state."""
    rc, st = ctl_as(env, READER, "status")
    check(rc == 0 and "tenants" in st, "a socket_group member reads status (rc %d)" % rc)
    rc, _ = ctl_as(env, READER, "alerts")
    check(rc == 0, "a socket_group member lists alerts")
    rc, _ = ctl_as(env, READER, "silence")
    check(rc == 0, "a socket_group member lists the silences")
    for args in (["silence", "smtp-auth-brute-force", "198.51.100.7", "--for", "1h"],
                 ["unsilence", "smtp-auth-brute-force", "198.51.100.7"],
                 ["ack", "a-000001"], ["poll"], ["reload"],
                 ["import-report", "contoso", "/etc/hostname"]):
        rc, out = ctl_as(env, READER, *args, json_out=False)
        check(rc == 1 and ("permission denied: %s needs membership of operator_group %s" % (args[0], OPS_GROUP))
              in out, "a reader may not %s (rc %d: %s)" % (args[0], rc, out.strip()))
    rc, out = ctl_as(env, OPERATOR, "poll", json_out=False)
    check(rc == 0, "an operator_group member may poll (%s)" % out.strip())


def test_silences(env):
    """max_silence, --all, unsilence, and every change at the sinks."""
    rc, out = env.ctl("silence", "*", "*", "--for", "100000000000d", json_out=False)
    check(rc != 0 and "every rule" in out, "silence * * needs --all (%s)" % out.strip())
    rc, out = env.ctl("silence", "*", "*", "--for", "100000000000d", "--all", json_out=False)
    check(rc == 1 and "longer than max_silence (30d)" in out,
          "a silence over max_silence is refused, naming the limit (%s)" % out.strip())
    rc, out = env.ctl("silence", "smtp-auth-brute-force", "198.51.100.7", "--for", "31d", json_out=False)
    check(rc == 1 and "max_silence" in out, "31d is over the default max_silence of 30d")
    rc, out = env.ctl("silence", "silence-changed", "*", "--for", "1h", json_out=False)
    check(rc == 1 and "cannot be silenced" in out, "silence-changed itself cannot be silenced (%s)" % out.strip())
    rc, out = env.ctl("silence", "*", "*", "--for", "2h", "--all")
    check(rc == 0, "silence * * --for 2h --all is accepted")

    rc, out = ctl_as(env, OPERATOR, "silence", "smtp-auth-brute-force", "198.51.100.7", "--for", "1h",
                     "--note", "pen test")
    check(rc == 0 and "(%s)" % OPERATOR in out["silence"]["created_by"],
          "an operator silences a rule; created_by names the user (%s)" % (out,))
    events = wait_for(lambda: len(silence_events(env)) >= 2 and silence_events(env), timeout=30,
                      what="the silence-changed alerts at the webhook")
    check(events and len(events) == 2, "both silences reached the webhook, though * * covers everything (%d)"
          % len(events or []))
    if events and len(events) == 2:
        wide, narrow = events
        check(wide["severity"] == "medium" and wide["subject"] == "*:*",
              "silence of every rule and subject: medium, subject *:* (%s)" % wide["severity"])
        check(narrow["severity"] == "low" and OPERATOR in narrow["summary"] and "198.51.100.7" in narrow["summary"]
              and "until" in narrow["summary"], "the one-rule silence: low, who, what, until (%s)" % narrow["summary"])
    rc, out = ctl_as(env, OPERATOR, "unsilence", "smtp-auth-brute-force", "198.51.100.7", json_out=False)
    check(rc == 0 and "lifted the silence" in out, "an operator lifts the silence (%s)" % out.strip())
    rc, out = env.ctl("unsilence", "smtp-auth-brute-force", "198.51.100.7", json_out=False)
    check(rc == 1 and "no silence" in out, "lifting it twice says there is none (%s)" % out.strip())
    rc, out = env.ctl("unsilence", "*", "*")
    check(rc == 0, "root lifts the silence of everything")
    events = wait_for(lambda: len(silence_events(env)) >= 4 and silence_events(env), timeout=30,
                      what="the unsilence alerts at the webhook")
    check(events and len(events) == 4 and "lifted" in events[2]["summary"] and "lifted" in events[3]["summary"],
          "each unsilence reached the webhook (%d)" % len(events or []))
    rc, data = env.ctl("silence")
    check(rc == 0 and data["silences"] == [], "no silence is left in force (%s)" % data)
    log = env.log_text()
    check("silence set by uid %d (%s): rule smtp-auth-brute-force subject 198.51.100.7 until" %
          (pwd.getpwnam(OPERATOR).pw_uid, OPERATOR) in log, "the daemon logs who set the silence, what, until")
    check("silence lifted by uid 0 (root): rule * subject *" in log, "and who lifted one")


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


def raw_request(env, req, fds=(), timeout=10):
    """One request line on a fresh connection, with fds passed alongside
    (SCM_RIGHTS): the parsed reply, or None when none came in time."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout * SCALE)
    try:
        s.connect(env.socket)
        line = (json.dumps(req) + "\n").encode()
        if fds:
            socket.send_fds(s, [line], list(fds))
        else:
            s.sendall(line)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return json.loads(buf) if buf else None
    except (socket.timeout, OSError):
        return None
    finally:
        s.close()


def closed_by_daemon(rfd, timeout=5):
    """Has every copy of a pipe's write end (ours is closed) gone: the
    daemon closed the one it was passed?"""
    import select
    r, _, _ = select.select([rfd], [], [], timeout * SCALE)
    return bool(r) and os.read(rfd, 1) == b""


def test_import_fd(env):
    """import-report reads the descriptor smtpwatchctl passes, never the path."""
    uid = pwd.getpwnam(OPERATOR).pw_uid
    home = os.path.join(env.dir, "home-o")
    os.mkdir(home, 0o700)
    os.chown(home, uid, -1)
    mine = os.path.join(home, "smtp-auth-clients-op.csv")
    with open(mine, "w") as f:
        f.write("Date,Sender address,Messages sent,Authentication protocol\n"
                "%s,fdpass@contoso.com,3,Basic\n" % day(-1))
    os.chown(mine, uid, -1)
    os.chmod(mine, 0o600)  # only she (and root) can read it
    rc, out = ctl_as(env, OPERATOR, "import-report", "contoso", mine)
    check(rc == 0 and out.get("rows") == 1 and out.get("file") == mine,
          "an operator imports a 0600 file of hers the daemon is handed, not told about (%s)" % (out,))

    secret = os.path.join(env.dir, "root-only.csv")
    with open(secret, "w") as f:
        f.write("TOPSECRET-first-line-%s\n" % TAG)
    os.chmod(secret, 0o600)
    rc, out = ctl_as(env, OPERATOR, "import-report", "contoso", secret, json_out=False)
    check(rc == 2 and "Permission denied" in out and "TOPSECRET" not in out,
          "a root-only file is refused by smtpwatchctl itself, nothing of it quoted (%s)" % out.strip())
    check("TOPSECRET" not in env.log_text() and secret not in env.log_text(),
          "the daemon never saw it (not in its log)")

    fifo = os.path.join(home, "fifo.csv")
    os.mkfifo(fifo, 0o600)
    os.chown(fifo, uid, -1)
    t0 = time.monotonic()
    rc, out = ctl_as(env, OPERATOR, "import-report", "contoso", fifo, json_out=False, timeout=20)
    check(rc == 2 and "not a regular file" in out, "a FIFO is refused without hanging (%s, %.1fs)" %
          (out.strip(), time.monotonic() - t0))

    # The protocol, without smtpwatchctl's checks.
    rep = raw_request(env, {"cmd": "import-report", "tenant": "contoso", "file": mine})
    check(rep is not None and not rep["ok"] and "upgrade smtpwatchctl" in rep["error"],
          "an old-style request with a path and no descriptor is refused (%s)" % (rep,))
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    rep = raw_request(env, {"cmd": "import-report", "tenant": "contoso", "file": fifo}, [rfd])
    os.close(rfd)
    check(rep is not None and not rep["ok"] and "not a regular file" in rep["error"],
          "a FIFO descriptor is refused by the daemon without waiting for a writer (%s)" % (rep,))
    r, w = os.pipe()
    rep = raw_request(env, {"cmd": "status"}, [w])
    os.close(w)
    check(rep is not None and rep["ok"] and closed_by_daemon(r), "a descriptor sent with status is closed")
    os.close(r)
    r, w = os.pipe()
    with open(mine, "a") as f:
        f.write("%s,fdpass2@contoso.com,2,Basic\n" % day(-2))
    fd = os.open(mine, os.O_RDONLY)
    rep = raw_request(env, {"cmd": "import-report", "tenant": "contoso", "file": "/etc/shadow"}, [fd, w])
    os.close(fd)
    os.close(w)
    check(rep is not None and rep["ok"] and rep["data"]["rows"] == 2,
          "the daemon reads the descriptor, whatever name comes with it (%s)" % (rep,))
    check(closed_by_daemon(r), "a second descriptor with import-report is closed")
    os.close(r)


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def n_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_pipelining(env):
    """100,000 pipelined requests from a client that never reads."""
    pid = env.daemon.pid
    before = vm_rss_kb(pid)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(env.socket)
    s.setblocking(False)
    data = b'{"cmd":"status"}\n' * 100000
    sent, stuck_since = 0, None
    deadline = time.monotonic() + 120 * SCALE
    while sent < len(data) and time.monotonic() < deadline:
        try:
            sent += s.send(data[sent:sent + 65536])
            stuck_since = None
        except BlockingIOError:
            # The daemon stopped reading: give it a moment to catch up.
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > 5 * SCALE:
                break
            time.sleep(0.05)
    peak = vm_rss_kb(pid)
    print("# pipelining: sent %d of %d bytes (%d requests); daemon VmRSS %d kB before, %d kB after" %
          (sent, len(data), sent // 17, before, peak), flush=True)
    # Under a wrapper (valgrind) the process is the tool's: judge the growth.
    if not WRAP:
        check(peak < 100 * 1024, "pipelining 100,000 requests without reading keeps VmRSS under 100 MB (%d kB)"
              % peak)
    check(peak - before < 50 * 1024, "and its VmRSS grows by less than 50 MB (%d kB)" % (peak - before))
    check(sent < len(data), "the daemon stopped reading the client (it took %d of %d bytes)" % (sent, len(data)))
    check(env.status() is not None, "another client still gets status meanwhile")
    s.close()


HOLDER = r"""
import json, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        break
    socks.append(s)
time.sleep(1.0)
held, refused, why = 0, 0, ""
for s in socks:
    s.setblocking(False)
    try:
        got = s.recv(4096)
        refused += 1
        why = got.decode(errors="replace").strip() or why
    except BlockingIOError:
        held += 1
print(json.dumps({"held": held, "refused": refused, "why": why}), flush=True)
sys.stdin.read()
"""


def test_idle_flood(env, spool):
    """200 idle connections of one user: bounded, and others still served."""
    holder = os.path.join(env.dir, "holder.py")
    with open(holder, "w") as f:
        f.write(HOLDER)
    os.chmod(holder, 0o644)
    p = subprocess.Popen(["runuser", "-u", OPERATOR, "--", SYSTEM_PYTHON, holder, env.socket, "200"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()  # the holder prints once its connections are made
        res = json.loads(line) if line else {}
        print("# idle flood: %s; daemon descriptors %d" % (res, n_fds(env.daemon.pid)), flush=True)
        check(res.get("held") == 16 and res.get("refused") == 184 and "too many connections from uid" in
              res.get("why", ""), "of 200 idle connections of one user 16 are kept, 184 refused with a reason (%s)"
              % res)
        check(n_fds(env.daemon.pid) < 100, "the daemon holds fewer than 100 descriptors (%d)" % n_fds(env.daemon.pid))
        rc, st = env.ctl("status")
        check(rc == 0 and "tenants" in st, "root still gets status")
        rc, st = ctl_as(env, READER, "status")
        check(rc == 0, "another member still gets status")
        with open(os.path.join(spool, ".flood.csv"), "w") as f:
            f.write("Date,Sender address,Messages sent,Authentication protocol\n"
                    "%s,flood@contoso.com,1,Basic\n" % day(-1))
        os.rename(os.path.join(spool, ".flood.csv"), os.path.join(spool, "flood.csv"))
        check(wait_for(lambda: os.path.exists(os.path.join(spool, "processed", "flood.csv")), timeout=60,
                       what="the spool scan"), "the spool scan still works")
    finally:
        p.stdin.close()
        p.wait(30)


def test_trickle(env):
    """A client sending a byte every 2 s is closed without a complete line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(env.socket)
    s.settimeout(2)
    got, t0 = b"", time.monotonic()
    for i, b in enumerate(b'{"cmd":"status","x":"' + b"a" * 100):
        try:
            s.send(bytes([b]))
        except OSError:
            break
        try:
            chunk = s.recv(4096)
            got += chunk
            if not chunk or got.endswith(b"\n"):
                break
        except socket.timeout:
            pass
        if time.monotonic() - t0 > 55 * SCALE:
            break
    print("# trickle: closed after %.0fs, %d bytes sent: %r" % (time.monotonic() - t0, i + 1, got), flush=True)
    check(b"no complete request line within 30s" in got,
          "a byte-trickler is told and closed, though each byte came within the idle timeout")
    s.close()


def main():
    if os.geteuid() != 0:
        print("# skipped: needs root to create the test's Unix users and groups (useradd)", flush=True)
        sys.exit(77)  # meson's "skipped"
    if shutil.which("useradd") is None or shutil.which("runuser") is None:
        print("# skipped: useradd or runuser is missing", flush=True)
        sys.exit(77)
    # The test's users run smtpwatchctl from the build: every directory
    # above it must let others through (a checkout under mktemp -d, 0700,
    # does not), or each of their calls fails with "Permission denied".
    path = os.path.realpath(SMTPWATCHCTL)
    while True:
        if not os.stat(path).st_mode & 0o001:
            print("# skipped: %s is not reachable by other users (mode %o): the test's users could not run "
                  "smtpwatchctl; build in a checkout others can traverse" % (path, os.stat(path).st_mode & 0o777),
                  flush=True)
            sys.exit(77)
        if path == "/":
            break
        path = os.path.dirname(path)
    remove_users()
    try:
        make_users()
    except KeyError:
        remove_users()
        raise
    env = Env("control")
    try:
        with open(env.conf) as f:
            conf = f.read()
        conf = conf.replace("socket_group =\n", "socket_group = %s\noperator_group = %s\n" % (SOCK_GROUP, OPS_GROUP),
                            1)
        spool = os.path.join(env.dir, "spool")
        conf = conf.replace("[tenant contoso]\n", "[tenant contoso]\nreport_spool = %s\n" % spool)
        with open(env.conf, "w") as f:
            f.write(conf)
        os.chmod(env.dir, 0o711)  # the other users reach the socket inside
        env.start_daemon()
        test_roles(env)
        test_silences(env)
        test_import_fd(env)
        test_pipelining(env)
        test_idle_flood(env, spool)
        test_trickle(env)
    finally:
        env.close()
        remove_users()
    finish()


if __name__ == "__main__":
    main()
