"""The email app usage report, end to end, for a tenant without Entra ID P1
(sim/scenarios/usage.json): sign-ins answer 403 with Microsoft's licence
error, the usage source follows the report's 302 to the simulator's second
port without the bearer token, stores one observation per user and refresh
date, and the SMTP App users outside the register raise
unapproved-basic-auth-submission with the usage evidence.  Then concealed
names switched on between two runs (said in status, no hash becomes a
sender), a redirect to a host outside the cloud, a report dated in the
future, an empty report: clear status and log lines, nothing wrong stored,
the daemon keeps running."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"
RULE = "unapproved-basic-auth-submission"
HEADER = ("Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,"
          "Mail For Mac,Outlook For Mac,Outlook For Windows,Outlook For Mobile,Other For Mobile,Outlook For Web,"
          "POP3 App,IMAP4 App,SMTP App,Report Period\r\n")


def usage_run(env, what):
    """Poll and wait for the usage source's next run to end."""
    before = (env.source("usage") or {}).get("runs", 0)
    env.ctl("poll")
    return wait_for(lambda: (env.source("usage") or {}).get("runs", 0) > before
                    and (env.source("usage") or {}).get("state") != "running", timeout=60, what=what)


def observations(env):
    db = env.db()
    rows = db.execute("SELECT upn, refresh_day, smtp FROM usage_obs ORDER BY upn").fetchall()
    db.close()
    return rows


def alerts_of(env):
    rc, doc = env.ctl("alerts")
    return [a for a in (doc.get("alerts", []) if rc == 0 else []) if a["rule"] == RULE]


def first_run(env):
    ok = wait_for(lambda: (env.source("usage") or {}).get("state") == "ok", timeout=60, what="first usage run")
    src = env.source("usage") or {}
    check(bool(ok), "the usage source completes its first run (%s)" % src)
    sig = env.source("signins") or {}
    check(sig.get("state") == "failing" and "premium license" in (sig.get("last_error") or ""),
          "the sign-ins source says the tenant has no premium licence (%s)" % sig.get("last_error"))
    rows = observations(env)
    check(len(rows) == 4 and len({r[1] for r in rows}) == 1, "one observation per user of the report (%s)" % rows)
    check(sorted(r[0] for r in rows if r[2] == 1) == ["copier@contoso.com", "scanner-hq@contoso.com",
                                                        "scanner2@contoso.com"],
          "the three SMTP App users are found (%s)" % rows)
    rep = src.get("report") or {}
    check(rep.get("users") == 4 and rep.get("smtp_users") == 3 and rep.get("names_concealed") is False and
          rep.get("display_concealed_names") == "off", "status shows the report's counts (%s)" % rep)
    st = env.sim.stats()["usage"]
    check(st["downloads"] >= 1 and st["downloads_with_authorization"] == 0,
          "the download URL was fetched, never with the Authorization header (%s)" % st)

    found = wait_for(lambda: len(alerts_of(env)) >= 2 and alerts_of(env), timeout=30, what="usage alerts")
    subjects = sorted(a["subject"] for a in (found or []))
    check(subjects == ["copier@contoso.com", "scanner2@contoso.com"],
          "the unregistered SMTP App users alert, the registered scanner-hq does not (%s)" % subjects)
    for a in found or []:
        check(a["severity"] == "medium", "%s is medium: Basic or OAuth is not known (%s)" % (a["subject"], a["severity"]))
        check("per the email app usage report" in a["summary"] and "Basic or OAuth is not known" in a["summary"],
              "the summary says what the evidence is (%s)" % a["summary"])
    hooks = wait_for(lambda: [h for h in env.sim.hooks("soc") if json.loads(h["body"])["rule"] == RULE],
                     timeout=30, what="webhook")
    doc = json.loads(hooks[0]["body"]) if hooks else {}
    ev = doc.get("evidence") or {}
    check(ev.get("sources") == ["usage"] and ev.get("auth") == "unknown" and ev.get("usage_report_day"),
          "the delivered alert carries the usage evidence (%s)" % ev)

    can = (env.status() or {})["tenants"]["contoso"].get("can_read") or {}
    check(can.get("signins", {}).get("ok") is False and "no Entra ID P1" in (can["signins"].get("why") or ""),
          "status says the sign-ins cannot be read, and why (%s)" % can.get("signins"))
    check(can.get("usage", {}).get("ok") is True, "and that the usage report can (%s)" % can.get("usage"))
    rc, text = env.ctl("status", json_out=False)
    check(rc == 0 and "contoso signins: cannot read: no Entra ID P1" in text,
          "smtpwatchctl status says it in a line (%s)" % text[-600:])

    rc, rep = env.ctl("report")
    tdoc = rep if "state" in rep else ((rep.get("tenants") or [{}])[0] if isinstance(rep.get("tenants"), list)
                                       else (rep.get("tenants") or {}).get("contoso", {}))
    check(rc == 0 and "usage" in (tdoc.get("evidence") or []) and "signins" not in (tdoc.get("evidence") or []),
          "the readiness report says it rests on the usage report, not sign-ins (%s)" % tdoc.get("evidence"))
    check((tdoc.get("usage") or {}).get("smtp_users") == 3 and tdoc.get("state") == "unknown" and
          "3 users sent over SMTP AUTH in the email app usage report" in (tdoc.get("state_text") or ""),
          "and counts the SMTP App users, not calling the tenant ready (%s)" % tdoc.get("state_text"))
    unk = {u["sender"]: u for u in tdoc.get("unknown") or []}
    check(unk.get("scanner2@contoso.com", {}).get("sources") == ["usage"] and
          unk.get("scanner-hq@contoso.com", {}).get("register") == "approved",
          "each sender says the evidence it rests on (%s)" % sorted(unk))

    # No P1 is how the tenant is licensed, not a broken source: with the
    # usage report on, no source-unhealthy fires for sign-ins for ever.
    rc, doc = env.ctl("alerts")
    unhealthy = [a["subject"] for a in (doc.get("alerts", []) if rc == 0 else [])
                 if a["rule"] in ("source-unhealthy", "coverage-gap")]
    check(rc == 0 and unhealthy == [], "no source-unhealthy or coverage-gap for the unlicensed sign-ins (%s)" % unhealthy)

    records = src.get("records")
    check(bool(usage_run(env, "second run")), "a second run completes")
    check(len(observations(env)) == 4 and (env.source("usage") or {}).get("records") == records,
          "the same report read again stores nothing new")


def concealed(env):
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"concealed": True, "refresh": "0s"})
    check(bool(usage_run(env, "run with concealed names")), "the run with concealed names completes")
    src = env.source("usage") or {}
    rep = src.get("report") or {}
    check(src.get("state") == "ok" and rep.get("names_concealed") is True and rep.get("concealed_smtp_users") == 3,
          "status says names are concealed, 3 of them with SMTP App activity (%s)" % rep)
    check("Org settings > Reports" in (rep.get("note") or ""), "and how to turn that off (%s)" % rep.get("note"))
    check(env.log_text().count("names concealed") == 1, "the log says it once")
    can = (env.status() or {})["tenants"]["contoso"].get("can_read") or {}
    check("names concealed" in (can.get("usage", {}).get("why") or ""), "can_read says it (%s)" % can.get("usage"))
    upns = [r[0] for r in observations(env)]
    check(all("@" in u for u in upns) and len(upns) == 4, "no hash is stored as a user (%s)" % upns)
    check(all("@" in a["subject"] for a in alerts_of(env)), "no hash becomes a sender")
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"concealed": False, "refresh": "-1d"})


def hostile(env):
    for loc, what in (("http://203.0.113.7/data/download/x", "http:// to a host that is not loopback"),
                      ("https://reports.evil.example/data/download/x", "a host outside the cloud")):
        env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"location": loc})
        usage_run(env, "run with a redirect to " + what)
        src = env.source("usage") or {}
        err = src.get("last_error") or ""
        check(src.get("state") == "failing" and "not followed" in err and "/data/download" not in err,
              "a redirect to %s is refused, its path not shown (%s)" % (what, err))
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"location": None})
    st = env.sim.stats()["usage"]
    check(st["downloads_with_authorization"] == 0, "no request carried the token to a download host (%s)" % st)

    before = observations(env)
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {
        "csv": HEADER + "2099-01-05,future@contoso.com,F,False,,2099-01-04,No,No,No,No,No,No,No,No,Yes,7\r\n"})
    usage_run(env, "run with a report dated in the future")
    err = (env.source("usage") or {}).get("last_error") or ""
    check("in the future" in err and "line 2" in err, "a refresh date in the future is refused by line (%s)" % err)
    check(observations(env) == before, "nothing of it is stored")

    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"csv": HEADER + "2026-01-01,x@contoso.com,X,False,,,"
                                                               "No,No,No,No,No,No,No,No,Maybe,7\r\n"})
    usage_run(env, "run with an unknown SMTP App value")
    err = (env.source("usage") or {}).get("last_error") or ""
    check("\"Maybe\" is not understood" in err, "an unknown SMTP App value is named (%s)" % err)

    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"csv": ""})
    usage_run(env, "run with an empty report")
    src = env.source("usage") or {}
    check(src.get("state") == "ok" and (src.get("report") or {}).get("users") == 0,
          "an empty report is a report of nobody (%s)" % src.get("report"))
    check(observations(env) == before, "and removes nothing stored")
    check(env.daemon.poll() is None, "the daemon keeps running")


def permissions(env):
    """Without ReportSettings.Read.All the report is still read; without
    Reports.Read.All status says which permission is missing."""
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"csv": None,
                                                               "withhold_permissions": ["ReportSettings.Read.All"]})
    usage_run(env, "run without ReportSettings.Read.All")
    src = env.source("usage") or {}
    check(src.get("state") == "ok" and (src.get("report") or {}).get("display_concealed_names") == "unknown" and
          (src.get("report") or {}).get("smtp_users") == 3,
          "without ReportSettings.Read.All the report is read, concealment told by the names (%s)" % src.get("report"))
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"withhold_permissions": ["Reports.Read.All"]})
    usage_run(env, "run without Reports.Read.All")
    can = ((env.status() or {})["tenants"]["contoso"].get("can_read") or {}).get("usage") or {}
    check(can.get("ok") is False and "Reports.Read.All" in (can.get("why") or ""),
          "without Reports.Read.All status says the permission is missing (%s)" % can)
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"withhold_permissions": []})


def trace():
    """trace = on: message trace of the registered mailbox only, its volume
    and source IPs where sign-ins cannot be read; then the service principal
    still provisioning (401), said in status."""
    reg = ("[exception scanner-hq@contoso.com]\nowner = facilities@contoso.com\njustification = MFP\n"
           "ticket = CHG-1\nexpires = %s\nallowed_ips = 203.0.113.0/28\nmax_daily_messages = 10\n" %
           time.strftime("%Y-%m-%d", time.gmtime(time.time() + 40 * 86400)))
    env = Env("usage-trace", scenario="usage.json", register=reg, tenant_extra="trace = on\n")
    try:
        env.start_daemon()
        ok = wait_for(lambda: (env.source("trace") or {}).get("state") == "ok", timeout=60, what="trace run")
        src = env.source("trace") or {}
        check(bool(ok) and src.get("records") == 33 and src.get("mailboxes") == 1,
              "the trace source stores the 33 messages of the one registered mailbox, not alice's (%s)" % src)
        db = env.db()
        senders = [r[0] for r in db.execute("SELECT DISTINCT mailbox FROM trace_msgs").fetchall()]
        db.close()
        check(senders == ["scanner-hq@contoso.com"], "only the register's mailbox is traced (%s)" % senders)
        def both():
            d = {a["rule"]: a for a in (env.ctl("alerts")[1].get("alerts") or [])
                 if a["subject"] == "scanner-hq@contoso.com"}
            return d if len(d) >= 2 else None
        got = wait_for(both, timeout=30, what="trace alerts")
        got = got or {}
        drift = got.get("exception-source-drift") or {}
        spike = got.get("exception-volume-spike") or {}
        check("198.51.100.9" in json.dumps(drift.get("evidence")) and "all mail sent by this mailbox" in
              drift.get("summary", ""), "mail from outside allowed_ips raises source drift, labelled (%s)" %
              drift.get("summary"))
        check("message trace" in spike.get("summary", ""), "over max_daily_messages raises the volume spike, per "
              "message trace (%s)" % spike.get("summary"))
        st = env.sim.stats()["usage"]
        env.sim.request("POST", f"/_sim/tenants/{TENANT}/usage", {"trace_provisioning": True})
        before = (env.source("trace") or {}).get("runs", 0)
        env.ctl("poll")
        wait_for(lambda: (env.source("trace") or {}).get("runs", 0) > before, timeout=60, what="trace run 401")
        src = env.source("trace") or {}
        check("still provisioning" in (src.get("last_error") or "") and "8bd644d1" in (src.get("provisioning") or ""),
              "a 401 is shown as the service principal provisioning (%s)" % src.get("provisioning"))
        can = (env.status() or {})["tenants"]["contoso"].get("can_read") or {}
        check("provisioning" in ((can.get("trace") or {}).get("why") or ""), "can_read says it (%s)" % can.get("trace"))
        check(st["traces"] >= 1, "the simulator served message trace (%s)" % st)
    finally:
        env.close()


def usage_off():
    """No P1 and usage = off: nothing says who sends with SMTP AUTH, and
    source-unhealthy says so and what to turn on."""
    env = Env("usage-off", scenario="usage.json", tenant_extra="usage = off\n")
    try:
        env.start_daemon()

        def unhealthy():
            rc, doc = env.ctl("alerts")
            return [a for a in (doc.get("alerts", []) if rc == 0 else [])
                    if a["rule"] == "source-unhealthy" and a["subject"] == "signins"]
        found = wait_for(unhealthy, timeout=60, what="source-unhealthy for sign-ins")
        a = (found or [{}])[0]
        check(bool(found) and "no Entra ID P1" in a.get("summary", "") and "usage = off" in a.get("summary", ""),
              "usage = off: source-unhealthy says the tenant has no P1 and nothing else watches (%s)" % a.get("summary"))
        check("usage = on" in (a.get("remediation") or ""), "and what to turn on (%s)" % a.get("remediation"))
    finally:
        env.close()


def main():
    env = Env("usage", scenario="usage.json")
    try:
        env.start_daemon()
        first_run(env)
        concealed(env)
        hostile(env)
        permissions(env)
    finally:
        env.close()
    trace()
    usage_off()
    finish()


if __name__ == "__main__":
    main()
