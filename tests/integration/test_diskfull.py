"""A full disk under the state directory: the daemon keeps running, says
so once per attempt ("the state directory is full"), keeps everything it
had, and catches up once there is room again.  The state directory is a
tmpfs the test mounts (root only; otherwise the test says why it skips)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"


def mount(path, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                          capture_output=True, text=True)


def main():
    env = Env("diskfull", scenario="diskfull.json")
    os.makedirs(env.state, exist_ok=True)
    m = mount(env.state, "600k") if os.geteuid() == 0 else None
    if m is None or m.returncode != 0:
        print("# skipped: cannot mount a tmpfs for the state directory (%s)"
              % ("not root" if m is None else m.stderr.strip()))
        env.close()
        sys.exit(77)  # meson's "skipped"
    try:
        env.start_daemon()
        src = wait_for(lambda: (env.source() or {}).get("state") == "ok" and env.source(), timeout=60,
                       what="first run")
        check(bool(src) and src["records"] == 5, "the first run fits (%s)" % (src or {}).get("records"))
        # Far more than 600 KiB of sign-ins, whatever the schema's
        # migrations left of the tmpfs (their WAL frames take 570 KB of a
        # fresh database; with 3,000 the sign-ins fitted once the Exchange
        # snapshot's failed commit had the WAL truncated).
        env.sim.add_signins(TENANT, [{"at": "-110m", "every": "1s", "count": 6000, "user": ["a@contoso.com",
                                      "b@contoso.com", "c@contoso.com"], "ip": "192.0.2.50", "country": "NL",
                                      "error_code": 50126}])
        env.ctl("poll")
        full = wait_for(lambda: any("state directory is full" in l and "signins:" in l
                                    for l in env.log_text().splitlines()), timeout=60, what="the sign-ins' disk full line")
        check(bool(full), "a full state directory is logged as such")
        check(env.daemon.poll() is None, "the daemon keeps running")
        st = env.source()
        check(st is not None and st["records"] >= 5, "status still answers and nothing stored is lost (%s)"
              % (st or {}).get("records"))
        lines = [l for l in env.log_text().splitlines() if "state directory is full" in l]
        # Another source (exchange, policies) may hit the full disk first:
        # the sign-ins' line is the one waited for, and to find.
        check(any("tenant contoso" in l and "signins:" in l for l in lines), "the line names tenant and source (%s)"
              % lines[:3])
        # Room again: the next run catches up.
        r = subprocess.run(["mount", "-o", "remount,size=64m", env.state], capture_output=True, text=True)
        check(r.returncode == 0, "the tmpfs grows (%s)" % r.stderr.strip())
        env.ctl("poll")
        got = wait_for(lambda: (env.source() or {}).get("records") == 6005 and env.source()["state"] == "ok"
                       and env.source(), timeout=120, what="catch up")
        check(bool(got), "every sign-in is stored once there is room (%s of 6005)"
              % (env.source() or {}).get("records"))
        db = env.db()
        check(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "the database is intact")
        n, d = db.execute("SELECT count(*), count(DISTINCT id) FROM signins").fetchone()
        check(n == d == 6005, "no sign-in twice (%d rows, %d ids)" % (n, d))
        db.close()
    finally:
        env.stop_daemon()
        subprocess.run(["umount", "-l", env.state], capture_output=True)
        env.close()
    finish()


if __name__ == "__main__":
    main()
