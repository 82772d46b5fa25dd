"""Idle polls reuse what they can: after the first cycle, further cycles of
every source ask the token endpoint nothing (the tokens are still valid)
and open no connection per request (HTTP keep-alive on libcurl's shared
connection cache); an idle sign-ins run commits once and is not followed
by the state and health rules (status last_run_writes, last_run_rules).  Counted by the simulator, which sees every request
and every TCP connection that carried one.  Under a service manager
(NOTIFY_SOCKET) the STATUS= line, sent at most once a second however many
runs end, still follows them: its firing count is the one `status` says
(a coalescing timer that never fired would send none at all)."""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

SOURCES = ("signins", "exchange", "policies")
TENANT_ID = "contoso.onmicrosoft.com"


def runs(env):
    """Runs ended per source of contoso, or None while status does not answer."""
    s = env.status()
    if s is None:
        return None
    src = s["tenants"]["contoso"]["sources"]
    return {k: src[k].get("runs", 0) for k in SOURCES}


def settled(env, want):
    """Every source ended at least want runs and none is running."""
    s = env.status()
    if s is None:
        return False
    src = s["tenants"]["contoso"]["sources"]
    return all(src[k].get("runs", 0) >= want and src[k]["state"] != "running" for k in SOURCES)


def requests(stats):
    return sum(v for k, v in stats["requests"].items() if k != "control")


def main():
    env = Env("keepalive")
    notify_path = os.path.join(env.dir, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.2)
    notes = []

    def drain():
        while True:
            try:
                notes.append(notify.recv(4096).decode())
            except OSError:
                return

    try:
        env.start_daemon(env={"NOTIFY_SOCKET": notify_path})
        # The first cycle; the policies source reads once more after the
        # first Exchange snapshot (What If), so wait for that too.
        ok = wait_for(lambda: settled(env, 1) and runs(env)["policies"] >= 2, timeout=90, what="first cycle")
        check(bool(ok), "the first cycle of every source ends (%s)" % runs(env))
        first = env.sim.stats()
        check(first["tokens_issued"] >= 1, "tokens were issued (%d)" % first["tokens_issued"])
        check(first["connections"] >= 1, "the simulator counts connections (%d)" % first["connections"])

        cycles = 3
        for i in range(cycles):
            before = runs(env)
            rc, _ = env.ctl("poll")
            check(rc == 0, "smtpwatchctl poll (cycle %d)" % (i + 2))
            ok = wait_for(lambda: settled(env, 0) and all(runs(env)[k] > before[k] for k in SOURCES),
                          timeout=90, what="cycle %d" % (i + 2))
            check(bool(ok), "cycle %d of every source ends (%s, was %s)" % (i + 2, runs(env), before))
        last = env.sim.stats()
        n_req = requests(last) - requests(first)
        n_conn = last["connections"] - first["connections"]
        print("# %d cycles after the first: %d requests, %d new connections, %d tokens issued"
              % (cycles, n_req, n_conn, last["tokens_issued"] - first["tokens_issued"]))
        check(n_req >= cycles * len(SOURCES), "the cycles asked the service (%d requests)" % n_req)
        check(last["tokens_issued"] == first["tokens_issued"],
              "no token requested after the first cycle: the cached ones are reused (%d issued, then %d)"
              % (first["tokens_issued"], last["tokens_issued"]))
        # Each cycle runs the three sources side by side; kept alive, their
        # connections from the first cycle carry them.  One connection per
        # request would be n_req.
        check(n_conn * 4 <= n_req, "connections are kept alive: %d new for %d requests" % (n_conn, n_req))
        st = env.status()
        # The cycles found nothing new: a sign-ins run re-reads its
        # lookback (duplicates, several pages) and commits one change (its
        # checkpoint on the last page); the state rules and the health
        # rules do not run again after it (nothing they read changed).
        src = st["tenants"]["contoso"]["sources"] if st else {}
        for k in SOURCES:
            print("# last %s run: %s transactions, %s of them writing, rules after it %s" % (
                k, src.get(k, {}).get("last_run_transactions"), src.get(k, {}).get("last_run_writes"),
                src.get(k, {}).get("last_run_rules")))
        si = src.get("signins", {})
        check(si.get("last_run_writes") == 1,
              "an idle sign-ins run commits one change to the store (%s)" % si.get("last_run_writes"))
        check(si.get("last_run_rules") == ["signins"],
              "after an idle sign-ins run only the sign-in rules run, not the state or health rules (%s)"
              % si.get("last_run_rules"))
        check(isinstance(si.get("last_run_transactions"), int) and si["last_run_transactions"] >= 1,
              "status counts the run's transactions (%s)" % si.get("last_run_transactions"))
        # Exchange, the policies and the usage report answered as in the
        # last cycle (the report's download URL aside): the state rules do
        # not run again after them either.
        for k in [k for k in ("exchange", "policies", "usage") if k in src]:
            rules = src.get(k, {}).get("last_run_rules")
            check(isinstance(rules, list) and "state" not in rules,
                  "the state rules do not run after a run of %s with the same answers (%s)"
                  % (k, rules))

        # Something new: a sign-in.  The cycle that stores it runs the
        # state rules again (after whichever source ends last).
        env.sim.add_signins(TENANT_ID, [{"at": "-1m", "every": "10s", "count": 1, "user": "app@contoso.com",
                                         "ip": "192.0.2.77", "country": "NL", "error_code": 0}])
        before = runs(env)
        records = src["signins"]["records"]
        rc, _ = env.ctl("poll")
        ok = wait_for(lambda: settled(env, 0) and all(runs(env)[k] > before[k] for k in SOURCES),
                      timeout=90, what="the cycle with a new sign-in")
        st2 = env.status()
        src2 = st2["tenants"]["contoso"]["sources"] if st2 else {}
        check(bool(ok) and src2["signins"]["records"] == records + 1,
              "the new sign-in is stored (%s, was %s)" % (src2.get("signins", {}).get("records"), records))
        check(any("state" in (src2.get(k, {}).get("last_run_rules") or []) for k in SOURCES),
              "after a run that stored something new the state rules run (%s)"
              % {k: src2.get(k, {}).get("last_run_rules") for k in SOURCES})
        st = env.status()
        check(st is not None and all(st["tenants"]["contoso"]["sources"][k]["state"] == "ok" for k in SOURCES),
              "every source is ok")

        # STATUS= lags the last run by at most a second: wait for the one
        # that counts what status counts now.
        firing = st["alerts"]["firing"] if st else -1
        check(firing > 0, "the foundation tenant has firing alerts (%d)" % firing)
        want = "STATUS=1 tenant, %d alert%s firing" % (firing, "" if firing == 1 else "s")

        def said():
            drain()
            lines = [l for n in notes for l in n.split("\n") if l.startswith("STATUS=")]
            return lines and lines[-1] == want

        ok = wait_for(said, timeout=10, what="STATUS=")
        lines = [l for n in notes for l in n.split("\n") if l.startswith("STATUS=")]
        check(bool(ok), "the service manager's status line says %r (last %r)" % (want, lines[-1] if lines else None))
        check(any(re.match(r"READY=1", n) for n in notes), "READY=1 was sent")
        # How many lines is timing (runs ending within a second share one):
        # printed, not asserted.
        print("# %d status lines for %d runs" % (len(lines), sum(runs(env).values())))
    finally:
        notify.close()
        env.close()
    finish()


if __name__ == "__main__":
    main()
