"""A broken exception register on reload (issue 22 #3): like a broken
tenant file, it does not refuse the whole reload.  Its tenant keeps its
running config and register (what `exceptions` lists, its schedule), a
config alert names the register's file and line, and the other tenants'
changes apply in the same reload.  A new tenant whose register is broken
is not loaded.  Fixed, the new register applies and the alert resolves; a broken
tenant's alert resolves when its file is removed.  A register that changes
(and loads) is taken in by its running tenant: no source restarts nor
moves, and the register rules run again at once.  Status' late_ms shows a
run held up (the reload benchmark reads it).
The real daemon against the simulator."""

import calendar
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLIENT_ID, SMTPWATCHD, Env, check, finish, wait_for  # noqa: E402


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def entry(mailbox, days=40):
    return ("[exception %s]\nowner = facilities@contoso.com\njustification = MFP scan-to-mail\nticket = CHG-1\n"
            "expires = %s\n" % (mailbox, time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * 86400))))


def registered(env, tenant):
    rc, ex = env.ctl("exceptions", "--tenant", tenant)
    return sorted(r["mailbox"] for r in ex["exceptions"] if r.get("registered")) if rc == 0 else None


def next_runs(env, name):
    s = env.status() or {"tenants": {}}
    return {src: s["tenants"].get(name, {}).get("sources", {}).get(src, {}).get("next_run")
            for src in ("signins", "exchange", "policies")}


def source_runs(env, name):
    s = env.status() or {"tenants": {}}
    return {src: s["tenants"].get(name, {}).get("sources", {}).get(src, {}).get("runs")
            for src in ("signins", "exchange", "policies")}


def alerts_of(env, rule, tenant, subject, status="firing"):
    rc, a = env.ctl("alerts", "--all")
    items = a if isinstance(a, list) else (a or {}).get("alerts", []) if rc == 0 else []
    return [x for x in items if x.get("rule") == rule and x.get("tenant") == tenant
            and x.get("subject") == subject and x.get("status", "firing") == status]


def config_alerts(env, tenant, status="firing"):
    rc, a = env.ctl("alerts", "--all")
    items = a if isinstance(a, list) else (a or {}).get("alerts", []) if rc == 0 else []
    return [x for x in items if x.get("rule") == "source-unhealthy" and x.get("tenant") == tenant
            and x.get("subject") == "config" and x.get("status", "firing") == status]


def main():
    env = Env("reloadreg", scenario="tenants.json", register=entry("scanner-hq@contoso.com"))
    tdir = os.path.join(env.dir, "tenants.d")
    os.mkdir(tdir)
    fab_secret = os.path.join(env.dir, "fabrikam.secret")
    write(fab_secret, "sim-secret-fabrikam\n")
    os.chmod(fab_secret, 0o600)
    fab_reg = os.path.join(env.dir, "exceptions-fabrikam.conf")
    write(fab_reg, entry("mfp@fabrikam.com").replace("contoso", "fabrikam"))
    # contoso in the main config (the Env's), fabrikam in a tenants_dir file.
    conf = open(env.conf).read().replace("[daemon]\n", "[daemon]\ntenants_dir = tenants.d\n", 1)
    write(env.conf, conf)
    fab = os.path.join(tdir, "fabrikam.conf")
    fab_text = ("[tenant fabrikam]\ntenant_id = fabrikam.onmicrosoft.com\n"
                "client_id = 22222222-2222-2222-2222-222222222222\nclient_secret_file = %s\nlogin_url = %s\n"
                "graph_url = %s\nexchange_url = %s\nsignins_interval = 1h\ninitial_backfill = 1d\nexceptions = %s\n"
                % (fab_secret, env.sim.url, env.sim.url, env.sim.url, fab_reg))
    write(fab, fab_text)
    try:
        env.start_daemon()

        def settled():
            s = env.status() or {"tenants": {}}
            return all(v for n in ("contoso", "fabrikam") for v in next_runs(env, n).values()) and all(
                s["tenants"].get(n, {}).get("sources", {}).get("policies", {}).get("runs", 0) >= 2
                for n in ("contoso", "fabrikam"))
        ok = wait_for(settled, timeout=60, what="both tenants settled")
        check(bool(ok), "both tenants run and settle")
        check(registered(env, "contoso") == ["scanner-hq@contoso.com"], "contoso's register is loaded (%s)"
              % registered(env, "contoso"))
        before = next_runs(env, "contoso")
        runs0 = source_runs(env, "contoso")

        # Only the register changes: contoso carries on (its schedule, its
        # runs) with the new register, and the rules that read it run again
        # without a source run: printer@, expiring in 5 days, raises
        # exception-expiring.
        write(env.register, entry("scanner-hq@contoso.com") + entry("printer@contoso.com", days=5))
        rc, out = env.ctl("reload")
        check(rc == 0 and "warning" not in json.dumps(out), "the reload of a changed register is clean (%d: %s)"
              % (rc, out))
        log = env.log_text()
        check("reload: tenant contoso: exception register %s reloaded (2 entries); its sources carry on"
              % env.register in log, "the log says contoso's register was reloaded and its sources carry on")
        check("tenant contoso changed" not in log, "contoso is not restarted")
        check(registered(env, "contoso") == ["printer@contoso.com", "scanner-hq@contoso.com"],
              "the new register applies (%s)" % registered(env, "contoso"))
        got = wait_for(lambda: alerts_of(env, "exception-expiring", "contoso", "printer@contoso.com"), timeout=30,
                       what="exception-expiring for the new entry")
        check(bool(got), "the register rules ran again: exception-expiring fires for the new entry")
        check(next_runs(env, "contoso") == before and source_runs(env, "contoso") == runs0,
              "without a source run or a schedule moved (%s %s -> %s %s)"
              % (before, runs0, next_runs(env, "contoso"), source_runs(env, "contoso")))

        # [rules] change (they decide how registers load): every tenant
        # takes its register loaded under them and carries on.
        fab_before, fab_runs = next_runs(env, "fabrikam"), source_runs(env, "fabrikam")
        with open(env.conf, "a") as f:
            f.write("\n[rules]\nunused_after = 45d\n")
        rc, out = env.ctl("reload")
        check(rc == 0 and "warning" not in json.dumps(out), "a reload with [rules] changed is clean (%d: %s)"
              % (rc, out))
        check("changed: restarting its sources" not in env.log_text(), "no tenant restarts for a change of [rules]")
        check(next_runs(env, "contoso") == before and source_runs(env, "contoso") == runs0 and
              next_runs(env, "fabrikam") == fab_before and source_runs(env, "fabrikam") == fab_runs,
              "no schedule moved, no source ran (%s %s)" % (next_runs(env, "contoso"), next_runs(env, "fabrikam")))
        check(registered(env, "contoso") == ["printer@contoso.com", "scanner-hq@contoso.com"],
              "contoso's register is still loaded (%s)" % registered(env, "contoso"))

        # contoso's register broken at line 10 (a second entry's expires),
        # and in the same reload fabrikam's file changes and a tenant is
        # added: the reload goes through for them.
        write(env.register, entry("scanner-hq@contoso.com") + entry("printer@contoso.com").replace(
            "expires = ", "expires = soon; was ", 1))
        p = subprocess.run([SMTPWATCHD, "-t", "-c", env.conf], capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and "%s:10:" % env.register in p.stderr,
              "--check-config names the register's file and line (%d: %s)" % (p.returncode, p.stderr.strip()))
        write(fab, fab_text + "signins_lookback = 1h\n")
        write(os.path.join(tdir, "second.conf"),
              "[tenant second]\ntenant_id = contoso.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
              "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 10s\ninitial_backfill = 1d\n"
              % (CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
        # More tenants added in one reload than ran before (the runtimes
        # kept were once indexed past their array).
        extra = ["extra%02d" % k for k in range(16)]
        for x in extra:
            write(os.path.join(tdir, x + ".conf"),
                  "[tenant %s]\ntenant_id = contoso.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
                  "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 1h\ninitial_backfill = 1d\n"
                  % (x, CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
        rc, out = env.ctl("reload")
        check(rc == 0 and "%s:10:" % env.register in json.dumps(out) and "exception register" in json.dumps(out),
              "smtpwatchctl reload applies and warns of the register's file and line (%d: %s)" % (rc, out))
        check(env.daemon.poll() is None, "the daemon keeps running")
        log = env.log_text()
        check("tenant contoso keeps its running configuration and exception register" in log,
              "the log says contoso keeps its running config and register")
        check("reload refused" not in log, "the reload is not refused")
        s = env.status() or {"tenants": {}}
        check(set(s["tenants"]) == {"contoso", "fabrikam", "second", *extra},
              "every tenant runs, the 17 added too (%s)" % sorted(s["tenants"]))
        check("tenant fabrikam changed" in log, "fabrikam's changed file applied in the same reload")
        check(registered(env, "contoso") == ["printer@contoso.com", "scanner-hq@contoso.com"],
              "contoso keeps its previous register (%s)" % registered(env, "contoso"))
        check(next_runs(env, "contoso") == before, "contoso's schedule did not move (%s -> %s)"
              % (before, next_runs(env, "contoso")))
        got = wait_for(lambda: config_alerts(env, "contoso"), timeout=20, what="the config alert")
        check(bool(got) and "%s:10:" % env.register in json.dumps(got[0]) and "exception register" in
              got[0].get("summary", ""), "a source-unhealthy alert (subject config) names the register's file and "
              "line (%s)" % (got[:1],))
        hooked = wait_for(lambda: [h for h in env.sim.hooks("soc") if "exceptions-contoso.conf:10" in h["body"]],
                          timeout=30, what="the alert at the sink")
        check(bool(hooked), "it reaches the sinks")
        check(not config_alerts(env, "fabrikam") and not config_alerts(env, "second") and
              not any(config_alerts(env, x) for x in extra[:2]),
              "no config alert for the tenants that loaded")

        # late_ms: a run held up shows how late it started.  second's
        # sign-ins run every 10 s (no jitter under 20 s): the daemon is
        # stopped from a second before its next run to 3 s after.
        src = wait_for(lambda: (env.source("signins", "second") or {}).get("next_run") and
                       (env.source("signins", "second") or {}).get("late_ms") is not None and
                       env.source("signins", "second"), timeout=60, what="second's scheduled run")
        check(bool(src) and isinstance(src.get("late_ms"), int) and src["late_ms"] >= 0,
              "status has late_ms for a source's scheduled run (%s)" % ((src or {}).get("late_ms"),))
        if src:
            due = calendar.timegm(time.strptime(src["next_run"], "%Y-%m-%dT%H:%M:%SZ"))
            if due - time.time() < 2:  # too close to stop before it: take the one after
                time.sleep(max(0.0, due - time.time()) + 1)
                src = env.source("signins", "second")
                due = calendar.timegm(time.strptime(src["next_run"], "%Y-%m-%dT%H:%M:%SZ"))
            runs = src["runs"]
            time.sleep(max(0.0, due - time.time() - 1))
            os.kill(env.daemon.pid, signal.SIGSTOP)
            time.sleep(4)
            os.kill(env.daemon.pid, signal.SIGCONT)
            got = wait_for(lambda: (env.source("signins", "second") or {}).get("runs", 0) > runs and
                           env.source("signins", "second"), timeout=30, what="the held-up run")
            check(bool(got) and got["late_ms"] >= 1000,
                  "a run held up by a 4 s stop from a second before its time shows late_ms of at least 1 s (%s)"
                  % ((got or {}).get("late_ms"),))

        # A new tenant whose register is broken is not loaded.
        third_reg = os.path.join(env.dir, "exceptions-third.conf")
        write(third_reg, entry("x@contoso.com") + "allowed_ips = 203.0.113.0/99\n")
        write(os.path.join(tdir, "third.conf"),
              "[tenant third]\ntenant_id = contoso.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
              "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 1h\nexceptions = %s\n"
              % (CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url, third_reg))
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: "tenant third not loaded" in env.log_text(), timeout=30, what="third not loaded")
        check(bool(ok), "a new tenant with a broken register is not loaded, and the log says why")
        s = env.status() or {"tenants": {}}
        check(set(s["tenants"]) == {"contoso", "fabrikam", "second", *extra}, "the others still run (%s)"
              % sorted(s["tenants"]))
        got = wait_for(lambda: config_alerts(env, "third"), timeout=20, what="third's config alert")
        check(bool(got) and "%s:6:" % third_reg in json.dumps(got[0]) and "not loaded" in got[0].get("summary", ""),
              "its alert names the register's file and line and says the tenant is not loaded (%s)" % (got[:1],))
        check(bool(config_alerts(env, "contoso")), "contoso's alert still fires (its register is still broken)")

        # Fixed: contoso's new register applies to its running sources, the
        # alerts resolve (third's with its file removed), and printer@ no
        # longer expires soon.
        before, runs0 = next_runs(env, "contoso"), source_runs(env, "contoso")
        write(env.register, entry("scanner-hq@contoso.com") + entry("printer@contoso.com"))
        os.unlink(os.path.join(tdir, "third.conf"))
        rc, out = env.ctl("reload")
        check(rc == 0 and "warning" not in json.dumps(out), "the reload with the register fixed is clean (%d: %s)"
              % (rc, out))
        check(registered(env, "contoso") == ["printer@contoso.com", "scanner-hq@contoso.com"],
              "contoso's fixed register applies (%s)" % registered(env, "contoso"))
        check(env.log_text().count("reload: tenant contoso: exception register %s reloaded (2 entries)"
                                   % env.register) == 2, "the log says so (the second time)")
        ok = wait_for(lambda: not alerts_of(env, "exception-expiring", "contoso", "printer@contoso.com") and
                      alerts_of(env, "exception-expiring", "contoso", "printer@contoso.com", "resolved"),
                      timeout=30, what="exception-expiring resolved")
        check(bool(ok), "printer@'s exception-expiring resolves with the renewed entry")
        check(next_runs(env, "contoso") == before and source_runs(env, "contoso") == runs0,
              "contoso's sources did not restart (%s %s -> %s %s)"
              % (before, runs0, next_runs(env, "contoso"), source_runs(env, "contoso")))
        ok = wait_for(lambda: not config_alerts(env, "contoso") and config_alerts(env, "contoso", "resolved"),
                      timeout=20, what="contoso's config alert resolved")
        check(bool(ok), "contoso's config alert resolves")
        ok = wait_for(lambda: not config_alerts(env, "third") and config_alerts(env, "third", "resolved"),
                      timeout=20, what="third's config alert resolved")
        check(bool(ok), "the removed tenant's config alert resolves too")
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
