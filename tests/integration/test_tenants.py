"""Many tenants in one daemon: one tenant's endpoints fail and the other's
alerts still arrive on time; the broken one is reported; SIGHUP with a
broken config keeps the running one; smtpwatchctl reload applies a good one."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402


def status_follows(env):
    """status keeps each tenant's part between calls (daemon/status.c): it
    still shows what changed since, and lag_s moves with the clock."""
    wait_for(lambda: env.source("signins", "contoso")["state"] == "ok", timeout=60, what="contoso idle")
    a = env.status()["tenants"]["contoso"]
    time.sleep(1.2)
    b = env.status()["tenants"]["contoso"]
    lag_a, lag_b = a["sources"]["signins"].get("lag_s"), b["sources"]["signins"].get("lag_s")
    check(lag_a is not None and lag_b is not None and lag_b >= lag_a + 1,
          "lag_s grows with the clock between two calls (%s, then %s)" % (lag_a, lag_b))
    for src in a["sources"].values():
        src.pop("lag_s", None)
    for src in b["sources"].values():
        src.pop("lag_s", None)
    check(a == b, "nothing else moved without a run (%s / %s)" % (json.dumps(a)[:300], json.dumps(b)[:300]))
    check(list(env.status().keys())[:1] == ["tenants"] and "fabrikam" in env.status()["tenants"],
          "every tenant is in the document")

    # Two new sign-ins and a poll: the next call shows the run and them.
    runs, records = b["sources"]["signins"]["runs"], b["sources"]["signins"]["records"]
    env.sim.add_signins("contoso.onmicrosoft.com", [{"at": "-2m", "every": "10s", "count": 2,
                                                     "user": "newprinter@contoso.com", "ip": "198.51.100.7",
                                                     "country": "NL", "error_code": 0}])
    env.ctl("poll", "contoso")
    c = wait_for(lambda: (lambda s: s["runs"] > runs and s["state"] == "ok" and s)(
        env.source("signins", "contoso")), timeout=60, what="the polled run in status")
    check(bool(c) and c["records"] == records + 2, "status shows the new run and its records (%s)" % c)


def main():
    env = Env("tenants", scenario="tenants.json", register="")
    fab_secret = os.path.join(env.dir, "fabrikam.secret")
    with open(fab_secret, "w") as f:
        f.write("sim-secret-fabrikam\n")
    os.chmod(fab_secret, 0o600)
    # A second tenant, same simulator: every endpoint of fabrikam fails.
    with open(env.conf, "a") as f:
        f.write("\n[tenant fabrikam]\ntenant_id = fabrikam.onmicrosoft.com\n"
                "client_id = 22222222-2222-2222-2222-222222222222\nclient_secret_file = %s\n"
                "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 1h\n"
                "initial_backfill = 1d\n" % (fab_secret, env.sim.url, env.sim.url, env.sim.url))
    env.sim.faults([{"endpoint": "token", "tenant": "fabrikam.onmicrosoft.com", "delay_ms": 3000, "status": 503,
                     "retry_after": 1, "count": -1}])
    try:
        t0 = time.monotonic()
        env.start_daemon()
        hooks = wait_for(lambda: env.sim.hooks("soc"), timeout=30, what="contoso alert")
        took = time.monotonic() - t0
        check(len(hooks) == 1 and "scanner2@contoso.com" in hooks[0]["body"],
              "contoso's alert arrives while fabrikam's endpoints fail")
        print("# contoso alert after %.1fs" % took)
        check(took < 15, "it is not held up by fabrikam's slow failures (%.1fs)" % took)
        fab = wait_for(lambda: (env.source("signins", "fabrikam") or {}).get("state") == "failing"
                       and env.source("signins", "fabrikam"), timeout=60, what="fabrikam failing")
        check(bool(fab), "fabrikam's sign-ins source is reported failing")
        check(fab and "503" in (fab.get("last_error") or ""), "with the token endpoint's answer (%s)"
              % (fab or {}).get("last_error"))
        con = env.source("signins", "contoso")
        check(con["state"] == "ok" and con["records"] == 4, "contoso is healthy (%s)" % con)
        check("sim-secret-fabrikam" not in env.log_text(), "no secret in the log")

        # SIGHUP with a broken config: refused, the running config stays.
        good = open(env.conf).read()
        with open(env.conf, "w") as f:
            f.write(good.replace("signins_interval = 1h", "signins_interval = soon", 1))
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: "reload refused" in env.log_text(), timeout=10, what="reload refused")
        check(bool(ok), "a broken config on SIGHUP is refused with a log line")
        line = [l for l in env.log_text().splitlines() if "reload refused" in l]
        check(line and "smtpwatch.conf:" in line[-1] and "signins_interval" in line[-1],
              "the line names FILE:LINE and the key (%s)" % (line[-1] if line else None))
        check(env.daemon.poll() is None and env.status() is not None, "the daemon keeps running and answering")
        rc, out = env.ctl("reload", json_out=False)
        check(rc == 1 and "signins_interval" in out, "smtpwatchctl reload reports the problem (exit 1)")

        # A good config again: reload applies it, checkpoints survive.
        with open(env.conf, "w") as f:
            f.write(good.replace("[tenant fabrikam]", "[tenant fabrikam]\nsignins_lookback = 1h", 1))
        rc, _ = env.ctl("reload")
        check(rc == 0, "smtpwatchctl reload applies a good config")
        time.sleep(1)
        con = env.source("signins", "contoso")
        check(con is not None and con["records"] == 4 and con["watermark"] is not None,
              "the reload keeps what was stored (%s)" % con)
        check(len(env.sim.hooks("soc")) == 1, "and sends nothing twice")
        status_follows(env)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
