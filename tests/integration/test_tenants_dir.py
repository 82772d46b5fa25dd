"""Tenants in a directory (issue 22 #3): tenants_dir with one file per
tenant and [tenant-defaults] for what they share, against the simulator.
SIGHUP adds a tenant without moving the others' schedules; a broken tenant
file keeps its tenant's running config, the others carry on, and an alert
names the file and line; a changed file restarts its tenant only, a removed
file's tenant stops.  A config alert left firing by an earlier process
(the file fixed, or removed, while the daemon was down) resolves at the
start.  A reload reads only the tenant files that changed (log, status
and metrics say how many of how many): a touched file is read again, and
so is one edited in place with its size and mtime put back (its ctime
moved); a [tenant-defaults] change applies to every tenant without
reading their files; a broken file stays broken, with its alert, across
reloads that do not read it; a removed file's tenant goes."""

import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLIENT_ID, SMTPWATCHD, Env, check, finish, wait_for  # noqa: E402


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def next_runs(env, names):
    s = env.status() or {"tenants": {}}
    return {(n, src): s["tenants"].get(n, {}).get("sources", {}).get(src, {}).get("next_run")
            for n in names for src in ("signins", "exchange", "policies")}


def source_ok(env, tenant, records):
    src = env.source("signins", tenant) if tenant in ((env.status() or {}).get("tenants") or {}) else None
    return src is not None and src["state"] == "ok" and src["records"] == records


def directory():
    env = Env("tenantsdir", scenario="tenants.json", register="")
    tdir = os.path.join(env.dir, "tenants.d")
    os.mkdir(tdir)
    fab_secret = os.path.join(env.dir, "fabrikam.secret")
    write(fab_secret, "sim-secret-fabrikam\n")
    os.chmod(fab_secret, 0o600)
    # The main config: the Env's [daemon] and sinks, its tenant moved out.
    conf = open(env.conf).read()
    m = re.search(r"(?s)\[tenant contoso\]\n.*?(?=\n\[sink )", conf)
    conf = conf[:m.start()] + conf[m.end():]
    conf = conf.replace("[daemon]\n", "[daemon]\ntenants_dir = tenants.d\n", 1)
    conf += ("\n[tenant-defaults]\nclient_id = %s\nclient_secret_file = %s\nlogin_url = %s\ngraph_url = %s\n"
             "exchange_url = %s\nsignins_interval = 1h\nsignins_lookback = 2h\ninitial_backfill = 1d\n"
             "config_interval = 1h\n" % (CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
    write(env.conf, conf)
    write(os.path.join(tdir, "contoso.conf"),
          "[tenant contoso]\ntenant_id = contoso.onmicrosoft.com\nexceptions = %s\n" % env.register)
    fab = os.path.join(tdir, "fabrikam.conf")
    fab_good = ("; fabrikam has its own app registration\n[tenant fabrikam]\ntenant_id = fabrikam.onmicrosoft.com\n"
                "client_id = 22222222-2222-2222-2222-222222222222\nclient_secret_file = %s\n" % fab_secret)
    write(fab, fab_good)
    try:
        p = subprocess.run([SMTPWATCHD, "-t", "-c", env.conf], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "--check-config accepts the directory (%d: %s)" % (p.returncode, p.stderr.strip()))
        env.start_daemon()
        ok = wait_for(lambda: source_ok(env, "contoso", 4) and source_ok(env, "fabrikam", 3), timeout=60,
                      what="both tenants read")
        check(bool(ok), "both tenant files load: contoso with the defaults, fabrikam with its own app (%s)"
              % {n: env.source("signins", n) for n in ("contoso", "fabrikam")} if not ok else
              "both tenant files load: contoso with the defaults, fabrikam with its own app")
        # Settled: every source idle, and the policies read again after the
        # first Exchange snapshot (the daemon does that once at start).
        def settled():
            s = env.status() or {"tenants": {}}
            return (all(v for v in next_runs(env, ("contoso", "fabrikam")).values()) and
                    all(s["tenants"].get(n, {}).get("sources", {}).get("policies", {}).get("runs", 0) >= 2
                        for n in ("contoso", "fabrikam")))
        ok = wait_for(settled, timeout=60, what="every source idle with a next run")
        check(bool(ok), "both tenants settle: every source idle with its next run")
        before = next_runs(env, ("contoso", "fabrikam"))
        print("# next runs before: %s" % before)

        # A third tenant file and SIGHUP: it runs, the others' schedules stay.
        write(os.path.join(tdir, "second.conf"), "[tenant second]\ntenant_id = contoso.onmicrosoft.com\n")
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: source_ok(env, "second", 4), timeout=60, what="the added tenant read")
        check(bool(ok), "the added tenant file's source runs after SIGHUP (%s)" % env.source("signins", "second")
              if "second" in (env.status() or {}).get("tenants", {}) else "the added tenant is in status")
        after = next_runs(env, ("contoso", "fabrikam"))
        check(after == before, "the other tenants' next runs did not move (%s -> %s)" % (before, after))
        check("tenant second added" in env.log_text(), "the log says the tenant was added")

        # Break fabrikam's file (line 6) and SIGHUP: it keeps its running config.
        write(fab, fab_good + "signins_interval = soon\n")
        p = subprocess.run([SMTPWATCHD, "-t", "-c", env.conf], capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and "%s:6: signins_interval" % fab in p.stderr,
              "--check-config names the tenant file and line (%d: %s)" % (p.returncode, p.stderr.strip()))
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: "tenant fabrikam keeps its running configuration" in env.log_text(), timeout=30,
                      what="reload with a broken tenant file")
        check(bool(ok), "the reload says fabrikam keeps its running configuration")
        check(env.daemon.poll() is None, "the daemon keeps running")
        s = env.status() or {"tenants": {}}
        check(set(s["tenants"]) == {"contoso", "fabrikam", "second"}, "every tenant still runs (%s)"
              % sorted(s["tenants"]))
        now = next_runs(env, ("contoso", "fabrikam"))
        check(now == before, "contoso's and fabrikam's next runs still did not move (%s)" % now)

        def alert():
            rc, a = env.ctl("alerts")
            items = a if isinstance(a, list) else (a or {}).get("alerts", []) if rc == 0 else []
            return [x for x in items if x.get("rule") == "source-unhealthy" and x.get("tenant") == "fabrikam"
                    and x.get("subject") == "config"]
        got = wait_for(alert, timeout=20, what="the config alert")
        check(bool(got) and "%s:6:" % fab in json.dumps(got[0]),
              "a source-unhealthy alert (subject config) names the file and line (%s)" % (got[:1],))
        hooked = wait_for(lambda: [h for h in env.sim.hooks("soc") if "fabrikam.conf:6" in h["body"]], timeout=30,
                          what="the alert at the sink")
        check(bool(hooked), "it reaches the sinks")
        rc, out = env.ctl("reload")
        check(rc == 0 and "fabrikam.conf:6" in json.dumps(out), "smtpwatchctl reload warns of the file (%d: %s)"
              % (rc, out))

        # Fixed again: the alert resolves; the unchanged config is kept as it ran.
        write(fab, fab_good)
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: not [x for x in alert() if x.get("status", "firing") == "firing"], timeout=20,
                      what="the config alert resolved")
        check(bool(ok), "the alert resolves once the file loads (%s)" % alert())
        check(next_runs(env, ("contoso", "fabrikam")) == before, "and still no schedule moved")

        # A changed file: that tenant restarts with it, the others do not.
        write(fab, fab_good + "signins_interval = 2h\n")
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: "tenant fabrikam changed" in env.log_text(), timeout=20, what="tenant changed")
        check(bool(ok), "the log says fabrikam changed")
        moved = wait_for(lambda: next_runs(env, ("fabrikam",))[("fabrikam", "signins")] not in
                         (None, before[("fabrikam", "signins")]), timeout=30, what="fabrikam rescheduled")
        check(bool(moved), "the changed tenant's sources restart (its next run moved)")
        contoso_before = {k: v for k, v in before.items() if k[0] == "contoso"}
        check(next_runs(env, ("contoso",)) == contoso_before, "contoso's schedule did not move")

        # A removed file: its tenant stops, the others carry on.
        os.unlink(os.path.join(tdir, "second.conf"))
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: "tenant second removed" in env.log_text(), timeout=20, what="tenant removed")
        s = env.status() or {"tenants": {}}
        check(bool(ok) and set(s["tenants"]) == {"contoso", "fabrikam"}, "a removed tenant file's tenant is gone (%s)"
              % sorted(s["tenants"]))
        check(next_runs(env, ("contoso",)) == contoso_before, "the others' schedules did not move")

        # Config alerts an earlier process raised: fabrikam's file broken
        # and a new tenant's file broken, both alerts firing; while the
        # daemon is down the one is fixed and the other removed.  The next
        # start (which loads only a whole config) resolves both.
        def config_alert(tenant, status):
            rc, a = env.ctl("alerts", "--all")
            items = a if isinstance(a, list) else (a or {}).get("alerts", []) if rc == 0 else []
            return [x for x in items if x.get("rule") == "source-unhealthy" and x.get("tenant") == tenant
                    and x.get("subject") == "config" and x.get("status", "firing") == status]
        fab_changed = fab_good + "signins_interval = 2h\n"
        write(fab, fab_changed + "signins_interval = soon\n")
        gone = os.path.join(tdir, "gone.conf")
        write(gone, "[tenant gone]\ntenant_id = contoso.onmicrosoft.com\nsignins_interval = never\n")
        env.daemon.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: config_alert("fabrikam", "firing") and config_alert("gone", "firing"), timeout=30,
                      what="both config alerts")
        check(bool(ok), "a broken file's tenant and a broken new file's tenant each have a config alert firing")
        env.stop_daemon()
        write(fab, fab_changed)
        os.unlink(gone)
        env.start_daemon()
        ok = wait_for(lambda: config_alert("fabrikam", "resolved") and config_alert("gone", "resolved"), timeout=30,
                      what="the earlier process's config alerts resolved")
        check(bool(ok) and not config_alert("fabrikam", "firing") and not config_alert("gone", "firing"),
              "at the next start both resolve: the fixed file loads, the removed file's tenant is gone (%s)"
              % (config_alert("fabrikam", "firing") + config_alert("gone", "firing"),))
        log = env.log_text()
        check("start: the config alert of tenant fabrikam resolved: its configuration loads" in log and
              "start: the config alert of tenant gone resolved: it is no longer configured" in log,
              "the log says which and why")
    finally:
        env.close()


def reloaded(env, what):
    """smtpwatchctl reload (it answers once applied), then the log line it
    wrote: 'configuration reloaded: ...; tenant files: parsed N of M (...)'."""
    env.last_reload_from = len(env.log_text())
    n = env.log_text().count("configuration reloaded:")
    rc, out = env.ctl("reload")
    check(rc == 0 or (isinstance(out, str) and "not loaded" in out), "%s: smtpwatchctl reload answers (%d: %s)"
          % (what, rc, out))
    ok = wait_for(lambda: env.log_text().count("configuration reloaded:") > n, timeout=20, what="the reload's line")
    lines = [ln for ln in env.log_text().splitlines() if "configuration reloaded:" in ln]
    return lines[-1] if ok and lines else ""


def parsed(line):
    m = re.search(r"tenant files: parsed (\d+) of (\d+)", line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def file_cache():
    env = Env("tenantscache", scenario="tenants.json", register="")
    tdir = os.path.join(env.dir, "tenants.d")
    os.mkdir(tdir)
    conf = open(env.conf).read()
    m = re.search(r"(?s)\[tenant contoso\]\n.*?(?=\n\[sink )", conf)
    conf = conf[:m.start()] + conf[m.end():]
    conf = conf.replace("[daemon]\n", "[daemon]\ntenants_dir = tenants.d\n", 1)
    defaults = ("\n[tenant-defaults]\nclient_id = %s\nclient_secret_file = %s\nlogin_url = %s\ngraph_url = %s\n"
                "exchange_url = %s\nsignins_lookback = 2h\ninitial_backfill = 1d\nconfig_interval = 1h\n"
                % (CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
    write(env.conf, conf + defaults + "signins_interval = 1h\n")
    files = {n: os.path.join(tdir, n + ".conf") for n in ("alpha", "bravo", "charlie")}
    for n, path in files.items():
        write(path, "[tenant %s]\ntenant_id = contoso.onmicrosoft.com\nsignins_lookback = 2h\n" % n)
    try:
        env.start_daemon()
        ok = wait_for(lambda: all(source_ok(env, n, 4) for n in files), timeout=60, what="the three tenants read")
        check(bool(ok), "three tenant files load")
        load = (env.status() or {}).get("config_load") or {}
        check(load.get("tenant_files") == 3 and load.get("tenant_files_parsed") == 3 and load.get("reloads") == 0,
              "status config_load: the start parsed 3 of 3 tenant files (%s)" % load)

        line = reloaded(env, "nothing changed")
        check(parsed(line) == (0, 3), "a reload with nothing changed parses 0 of 3 tenant files (%s)" % line)

        # Touched: read again, and only it.
        st = os.stat(files["alpha"])
        os.utime(files["alpha"], ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
        line = reloaded(env, "one file touched")
        check(parsed(line) == (1, 3), "after touching one file the reload parses 1 of 3 (%s)" % line)
        load = (env.status() or {}).get("config_load") or {}
        check(load.get("tenant_files") == 3 and load.get("tenant_files_parsed") == 1 and load.get("reloads") == 2
              and load.get("applied_ms") is not None,
              "status config_load says 1 of 3, the second reload, with its time (%s)" % load)
        rc, text = env.ctl("status", json_out=False)
        check(rc == 0 and "tenant files: parsed 1 of 3 at the last reload" in text.splitlines()[0],
              "smtpwatchctl status's first line says so (%s)" % text.splitlines()[:1])
        rc, metrics = env.ctl("metrics", json_out=False)
        check(rc == 0 and "\nsmtpwatch_config_tenant_files_parsed 1\n" in metrics and
              "\nsmtpwatch_config_tenant_files 3\n" in metrics and "\nsmtpwatch_config_reloads_total 2\n" in metrics,
              "the metrics say so too")
        check("tenant alpha changed" not in env.log_text(), "a touched file with the same text changes nothing")

        # [tenant-defaults] changed: every tenant takes it, no file read.
        write(env.conf, conf + defaults + "signins_interval = 2h\n")
        line = reloaded(env, "the defaults changed")
        check(parsed(line) == (0, 3), "a change of [tenant-defaults] parses no tenant file (%s)" % line)
        this = env.log_text()[env.last_reload_from:]
        check(all("reload: tenant %s changed: restarting its sources" % n in this for n in files),
              "and applies to every tenant: each restarts with it")

        # Edited in place, same size, mtime put back: the ctime moved.
        st = os.stat(files["bravo"])
        with open(files["bravo"], "r+") as f:
            text = f.read()
            f.seek(0)
            f.write(text.replace("signins_lookback = 2h", "signins_lookback = 3h"))
        os.utime(files["bravo"], ns=(st.st_atime_ns, st.st_mtime_ns))
        st2 = os.stat(files["bravo"])
        check(st2.st_size == st.st_size and st2.st_mtime_ns == st.st_mtime_ns and st2.st_ino == st.st_ino,
              "bravo edited in place: same inode, size and mtime")
        line = reloaded(env, "edited in place")
        check(parsed(line) == (1, 3), "the reload parses it (its ctime moved): 1 of 3 (%s)" % line)
        this = env.log_text()[env.last_reload_from:]
        check("reload: tenant bravo changed: restarting its sources" in this and
              "tenant alpha changed" not in this and "tenant charlie changed" not in this,
              "and bravo, only bravo, restarts with its new lookback")

        # Broken: it keeps its running config and its alert across reloads
        # that do not read it again.
        with open(files["charlie"], "a") as f:
            f.write("signins_interval = never\n")

        def alert():
            rc, a = env.ctl("alerts")
            items = a if isinstance(a, list) else (a or {}).get("alerts", []) if rc == 0 else []
            return [x for x in items if x.get("rule") == "source-unhealthy" and x.get("tenant") == "charlie"
                    and x.get("subject") == "config" and x.get("status", "firing") == "firing"]
        line = reloaded(env, "a file broken")
        check(parsed(line) == (1, 3), "the broken file is parsed: 1 of 3 (%s)" % line)
        check(bool(wait_for(alert, timeout=20, what="the config alert")), "its config alert fires")
        keeps = "tenant charlie keeps its running configuration"
        n_keeps = env.log_text().count(keeps)
        check(n_keeps == 1, "the log says charlie keeps its running configuration")
        line = reloaded(env, "the broken file unchanged")
        check(parsed(line) == (0, 3), "a reload after it parses none (%s)" % line)
        check(env.log_text().count(keeps) == n_keeps + 1, "and charlie's file is still broken: it keeps its config")
        check(bool(alert()), "its alert still fires")
        s = env.status() or {"tenants": {}}
        check(set(s["tenants"]) == set(files), "every tenant still runs (%s)" % sorted(s["tenants"]))

        # Removed: its tenant goes (and its alert with it).
        os.unlink(files["charlie"])
        line = reloaded(env, "a file removed")
        check(parsed(line) == (0, 2), "after removing charlie's file: parsed 0 of 2 (%s)" % line)
        s = env.status() or {"tenants": {}}
        check(set(s["tenants"]) == {"alpha", "bravo"} and "tenant charlie removed" in env.log_text(),
              "the removed file's tenant is gone (%s)" % sorted(s["tenants"]))
        check(not alert(), "and its config alert resolved")
    finally:
        env.close()


def main():
    directory()
    file_cache()
    finish()


if __name__ == "__main__":
    main()
