"""`status` over many tenants, answered later (issue 22 #4): the daemon
builds the reply a tenant a step across loop turns (control_status.c)
instead of in the callback that read the request.  What a user sees of
that: the document is whole and shaped as before, with every tenant in
config order; a client that hangs up before its answer costs nothing
(the daemon lets the reply go, answers the others, and stops cleanly:
under ASan, without a leak); one that only shut down its writing still
gets its answer; and more replies built at once than the daemon allows
(CONTROL_MAX_JOBS, 8) get a "busy" error instead of a wait.

Without timing: the daemon is stopped (SIGSTOP) while the clients
connect, send and hang up, so it finds all of them at once when it goes
on (its log, at debug, says what it did with each)."""

import json
import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLIENT_ID, SCALE, Env, check, finish, wait_for  # noqa: E402

BRANCHES = 60
BRANCH = ("\n[tenant branch%d]\ntenant_id = contoso.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
          "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 1h\nsignins_lookback = 2h\n"
          "initial_backfill = 1d\n")
# The members of status after its tenants, in the order it has always
# written them (scripts and smtpwatchctl read them; others may come in
# between).
MEMBERS = ["version", "uptime_s", "config", "sinks", "alerts", "loop"]
MAX_JOBS = 8


def connect(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60 * SCALE)
    s.connect(env.socket)  # the backlog takes it while the daemon is stopped
    return s


def read_all(s):
    """Every byte until the daemon closes (or the timeout)."""
    got = b""
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return got


def read_line(f):
    line = f.readline()
    return json.loads(line) if line else None


def stopped(env):
    """The daemon's loop is stopped until SIGCONT (kill returns before
    SIGSTOP takes hold: wait until /proc says so)."""
    os.kill(env.daemon.pid, signal.SIGSTOP)

    def state():
        with open("/proc/%d/stat" % env.daemon.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    wait_for(lambda: state() == "T", timeout=10, what="the daemon stopped")


def all_read(env, names):
    st = env.status()
    return st is not None and list(st["tenants"]) == names and \
        all(t["sources"]["signins"].get("state") == "ok" for t in st["tenants"].values())


def test_many(env, names):
    """Every tenant, in config order, each with its part; the document's
    members as before; the raw reply one line."""
    s = connect(env)
    f = s.makefile("rb")
    s.sendall(b'{"cmd":"status"}\n')
    raw = f.readline()
    s.close()
    check(raw.startswith(b'{"ok":true,"data":{"tenants":{"contoso":{') and raw.endswith(b"}\n")
          and raw.count(b"\n") == 1, "status answers one line, the tenants first (%r...)" % raw[:60])
    doc = json.loads(raw, object_pairs_hook=lambda kv: kv)
    data = dict(doc)["data"]
    keys = [k for k, _ in data]
    check(keys[0] == "tenants" and [k for k in keys if k in MEMBERS] == MEMBERS,
          "the tenants first, then the document's members in their order (%s)" % keys)
    tenants = dict(data)["tenants"]
    check([k for k, _ in tenants] == names, "every one of the %d tenants, in config order (%d listed)"
          % (len(names), len(tenants)))
    parts = [dict(v) for _, v in tenants]
    check(all(p.get("tenant_id") == "contoso.onmicrosoft.com" and "top_failures" in p and "can_read" in p and
              {"signins", "exchange", "policies", "report"} <= set(k for k, _ in p["sources"]) for p in parts),
          "each tenant's part has its tenant_id, sources, top_failures and can_read")
    check(all(dict(dict(p["sources"])["signins"]).get("state") == "ok" for p in parts),
          "each tenant's sign-ins say ok")
    rc, text = env.ctl("status", json_out=False)
    check(rc == 0 and "branch%d" % BRANCHES in text, "smtpwatchctl status prints them (rc %d)" % rc)


def test_streamed(env, names):
    """A reply larger than a piece (CONTROL_REPLY_PIECE, 64 KB) goes out
    while it is built, and its steps wait for a client that does not
    read: one that reads nothing for a while, then a few KB at a time,
    still gets the whole document, the daemon answers others meanwhile,
    and its log says how much went out before the last piece."""
    mark = len(env.log_text())
    slow = connect(env)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b'{"cmd":"status"}\n')
    st = env.status()  # answered while the slow client reads nothing
    check(st is not None and list(st["tenants"]) == names, "another client's status is answered meanwhile")
    got = b""
    while not got.endswith(b"\n"):
        chunk = slow.recv(4096)
        if not chunk:
            break
        got += chunk
    slow.close()
    reply = json.loads(got) if got.endswith(b"\n") else {}
    check(reply.get("ok") is True and list(reply["data"]["tenants"]) == names and len(got) > 65536,
          "the slow reader gets the whole status (%d bytes, more than a piece)" % len(got))
    sent = wait_for(lambda: [int(n) for n in re.findall(r"control: status for uid \d+ pid \d+ answered after \d+ "
                                                         r"slices?, \d+ ms \((\d+) bytes sent before its last piece\)",
                                                         env.log_text()[mark:])], timeout=30, what="the answered lines")
    check(bool(sent) and max(sent) >= 65536 and max(sent) < len(got),
          "the reply went out in pieces while it was built (%s bytes before the last, of %d)" % (sent, len(got)))


def test_hangup(env, names):
    """A client that hangs up after asking is let go with its reply half
    built; one that only shut down its side still gets the whole reply."""
    mark = len(env.log_text())
    stopped(env)
    try:
        gone = connect(env)
        gone.sendall(b'{"cmd":"status"}\n')
        gone.close()
        half = connect(env)
        half.sendall(b'{"cmd":"status"}\n')
        half.shutdown(socket.SHUT_WR)
    finally:
        os.kill(env.daemon.pid, signal.SIGCONT)
    got = read_all(half)
    half.close()
    reply = json.loads(got) if got.endswith(b"\n") else {}
    check(reply.get("ok") is True and list(reply["data"]["tenants"]) == names,
          "a client that shut down its writing gets the whole status (%d bytes)" % len(got))
    dropped = wait_for(lambda: re.search(r"control: status for uid \d+ pid \d+ dropped after 0 slices: the client "
                                         r"hung up", env.log_text()[mark:]), timeout=30, what="the dropped status")
    check(dropped is not None, "the status of the client that hung up is dropped at its first slice")
    st = env.status()
    check(st is not None and list(st["tenants"]) == names, "the daemon answers status after")


def test_busy(env, names):
    """More status calls at once than the daemon builds: the ones over
    the bound are told it is busy, at once; the others get their reply."""
    n = MAX_JOBS + 3
    stopped(env)
    socks = []
    try:
        for _ in range(n):
            s = connect(env)
            s.sendall(b'{"cmd":"status"}\n')
            socks.append(s)
    finally:
        os.kill(env.daemon.pid, signal.SIGCONT)
    replies = []
    for s in socks:
        replies.append(read_line(s.makefile("rb")))
        s.close()
    ok = [r for r in replies if r and r.get("ok") is True and list(r["data"]["tenants"]) == names]
    busy = [r for r in replies if r and r.get("ok") is False and r.get("error", "").startswith("busy: ")]
    check(len(ok) == MAX_JOBS and len(busy) == n - MAX_JOBS,
          "of %d status calls at once %d are answered whole and %d told busy (%d ok, %d busy: %s)"
          % (n, MAX_JOBS, n - MAX_JOBS, len(ok), len(busy), busy[:1] or [r for r in replies if r not in ok][:1]))
    st = env.status()
    check(st is not None and list(st["tenants"]) == names, "and the next call is answered")


def main():
    env = Env("status")
    names = ["contoso"] + ["branch%d" % i for i in range(1, BRANCHES + 1)]
    with open(env.conf, "a") as f:
        for i in range(1, BRANCHES + 1):
            f.write(BRANCH % (i, CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
    try:
        env.start_daemon()
        ok = wait_for(lambda: all_read(env, names), timeout=120, what="every tenant's first sign-ins run")
        check(bool(ok), "%d tenants read their sign-ins" % len(names))
        test_many(env, names)
        test_streamed(env, names)
        test_hangup(env, names)
        test_busy(env, names)
        rc = env.stop_daemon()
        check(rc == 0, "the daemon stops cleanly (exit %s; under ASan: nothing leaked)" % rc)
    except Exception:
        print(env.log_text()[-20000:])
        raise
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
