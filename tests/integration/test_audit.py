"""Change attribution, end to end: the daemon against the simulator's
Office 365 Management Activity API (sim/scenarios/audit.json): the
subscription started once, content listed with NextPageUri paging, each
blob read once, the admin records that touch SMTP AUTH stored once (a
repeated record too), a late record found by the overlap re-read, a restart
(AF20024, SIGKILL halfway), and a 403 naming ActivityFeed.Read."""

import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"


def audit_env(name, **kw):
    """An Env whose tenant reads the audit log at the simulator's /manage."""
    env = Env(name, scenario="audit.json",
              tenant_extra="audit = on\nmanage_url = @SIM@/manage\naudit_interval = 1h\n", **kw)
    with open(env.conf) as f:
        text = f.read().replace("@SIM@", env.sim.url)
    with open(env.conf, "w") as f:
        f.write(text)
    return env


def changes(env):
    db = env.db()
    rows = db.execute("SELECT id, operation, user, actor, ip, subject, value, effect FROM audit_changes "
                      "ORDER BY created").fetchall()
    db.close()
    return rows


def audit_run(env, what):
    """Poll and wait for the audit source's next successful run."""
    before = (env.source("audit") or {}).get("runs", 0)
    env.ctl("poll")
    return wait_for(lambda: (env.source("audit") or {}).get("runs", 0) > before
                    and not (env.source("audit") or {}).get("state") == "running", timeout=60, what=what)


def source_basics(env):
    ok = wait_for(lambda: (env.source("audit") or {}).get("state") == "ok", timeout=60, what="first audit run")
    check(bool(ok), "the audit source completes its first run (%s)" % env.source("audit"))
    src = env.source("audit") or {}
    rows = changes(env)
    ops = sorted((r[1], r[5], r[7]) for r in rows)
    check(len(rows) == 3 and src.get("records") == 3,
          "three changes touch SMTP AUTH: Set-Mailbox is left out, the repeated record stored once (%s)" % ops)
    it = [r for r in rows if r[2] == "it-admin@contoso.com"]
    check(len(it) == 1 and it[0][4] == "203.0.113.9" and it[0][5] == "scanner2@contoso.com" and it[0][7] == "on",
          "it-admin's Set-CASMailbox on scanner2 is stored with the IP without its port (%s)" % it)
    sysrow = [r for r in rows if r[3] == "system"]
    check(len(sysrow) == 1 and sysrow[0][6] == "$null",
          "the PowerShell-string record of NT AUTHORITY\\SYSTEM is read and marked a system actor (%s)" % sysrow)
    st = env.sim.stats()
    check(st["audit_blobs_listed"] == 5 and st["audit_records_served"] == 5,
          "five blobs listed over three pages of two (NextPageUri followed), each read once (%s)" % st)
    check(st["requests"]["manage"] >= 7 and st["audit_no_publisher"] == 0,
          "every Management API request, pages and blobs too, carries PublisherIdentifier (%d of %d without)"
          % (st["audit_no_publisher"], st["requests"]["manage"]))
    check(st["tokens_issued"] == 2,
          "a token of its own for {manage_url}/.default beside the one for Graph and Exchange (%s)" % st["tokens_issued"])
    check((src.get("subscription") or {}).get("status") == "enabled", "status shows the subscription enabled")
    check(src.get("overlap_s") == 7200, "and the overlap re-read (%s)" % src.get("overlap_s"))


def docs(env):
    return [json.loads(h["body"]) for h in env.sim.hooks("soc")]


def attribution(env):
    """The drift alert that an audit record explains carries changed_by;
    each change is its own smtp-auth-setting-changed notification."""
    ok = wait_for(lambda: (env.source("exchange") or {}).get("state") == "ok", timeout=60, what="exchange run")
    check(bool(ok), "the Exchange snapshot is taken")
    env.ctl("poll")
    wait_for(lambda: any(d["rule"] == "unapproved-mailbox-exception" and d["subject"] == "scanner2@contoso.com"
                         and d.get("changed_by") for d in docs(env)), timeout=60, what="changed_by on scanner2")
    sc = [d for d in docs(env) if d["rule"] == "unapproved-mailbox-exception" and d["subject"] == "scanner2@contoso.com"]
    cb = sc[-1].get("changed_by") if sc else None
    check(bool(cb) and cb["user"] == "it-admin@contoso.com" and cb["ip"] == "203.0.113.9"
          and cb["operation"] == "Set-CASMailbox" and cb.get("audit_id"),
          "unapproved-mailbox-exception for scanner2 carries changed_by it-admin from 203.0.113.9 (%s)" % cb)
    check(len({d["id"] for d in sc}) == 1, "one alert, not a duplicate (%s)" % [d["id"] for d in sc])
    rc, alert = env.ctl("alert", sc[-1]["id"]) if sc else (1, {})
    check(rc == 0 and (alert.get("changed_by") or {}).get("user") == "it-admin@contoso.com",
          "smtpwatchctl alert --json shows changed_by too")
    ch = {d["subject"]: d for d in docs(env) if d["rule"] == "smtp-auth-setting-changed"}
    s2 = ch.get("scanner2@contoso.com")
    check(s2 is not None and s2["severity"] == "high" and "it-admin@contoso.com" in s2["summary"]
          and "203.0.113.9" in s2["summary"] and "not in the exception register" in s2["summary"],
          "smtp-auth-setting-changed for the unregistered scanner2 is high and says who and from where (%s)"
          % (s2 or {}).get("summary"))
    ev = (s2 or {}).get("evidence", {})
    check(ev.get("user") == "it-admin@contoso.com" and ev.get("ip") == "203.0.113.9"
          and ev.get("operation") == "Set-CASMailbox" and ev.get("audit_id")
          and {"Name": "SmtpClientAuthenticationDisabled", "Value": "False"} in ev.get("parameters", []),
          "its evidence: who, when, IP, cmdlet, parameters, audit id (%s)" % ev)
    hq = ch.get("scanner-hq@contoso.com")
    check(hq is not None and hq["severity"] == "low", "the registered scanner-hq: low (%s)" % (hq or {}).get("severity"))
    al = ch.get("alice@contoso.com")
    check(al is not None and al["severity"] == "info" and "system process" in al["summary"],
          "NT AUTHORITY\\SYSTEM setting alice to $null (tenant switch off): info, said to be a system process (%s)"
          % (al or {}).get("summary"))

    rc, out = env.ctl("changes")
    rows = out.get("changes", []) if rc == 0 else []
    check(rc == 0 and len(rows) == 3 and rows[0]["at"] >= rows[-1]["at"],
          "smtpwatchctl changes --json lists the three, newest first (%s)" % rows)
    rc, text = env.ctl("changes", "--tenant", "contoso", "--since", "1h", json_out=False)
    check(rc == 0 and "it-admin@contoso.com" in text and "203.0.113.9" in text and "Set-CASMailbox" in text
          and "scanner-hq" not in text, "changes --since 1h shows it-admin's change only (%s)" % text)
    rc, text = env.ctl("changes", "--since", "soon", json_out=False)
    check(rc == 2, "a bad --since is a usage error (%d)" % rc)
    rc, mb = env.ctl("mailbox", "scanner2@contoso.com")
    mch = mb["tenants"][0].get("changes", []) if rc == 0 else []
    check(len(mch) == 1 and mch[0]["user"] == "it-admin@contoso.com" and mch[0]["ip"] == "203.0.113.9",
          "smtpwatchctl mailbox lists the change with who and from where (%s)" % mch)
    rc, text = env.ctl("mailbox", "scanner2@contoso.com", json_out=False)
    check(rc == 0 and "Changes (unified audit log):" in text and "it-admin@contoso.com" in text,
          "and its text shows them")


def late_record(env):
    """An admin turns SMTP AUTH on for the printer; the audit record is
    listed only later, in a blob whose contentCreated lies before the
    watermark: the overlap re-read finds it, and the alert that fired
    without it gets one more transition carrying changed_by."""
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/changes", {"changes": [
        {"mailbox": "printer@contoso.com", "set": {"SmtpClientAuthenticationDisabled": False}}]})
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/audit", {"records": [
        {"at": "-2s", "user": "late-admin@contoso.com", "ip": "198.51.100.77:40000", "operation": "Set-CASMailbox",
         "object_id": "printer", "parameters": {"Identity": "printer", "SmtpClientAuthenticationDisabled": "$false"},
         "visible_after": "12s"}]})
    env.ctl("poll")
    ok = wait_for(lambda: any(d["rule"] == "unapproved-mailbox-exception" and d["subject"] == "printer@contoso.com"
                              for d in docs(env)), timeout=60, what="printer alert")
    check(bool(ok), "the printer's override fires unapproved-mailbox-exception")
    wait_for(lambda: (env.source("audit") or {}).get("state") == "ok", timeout=30, what="audit idle")
    check(not any(r[2] == "late-admin@contoso.com" for r in changes(env)), "the late record is not listed yet")
    first = [d for d in docs(env) if d["rule"] == "unapproved-mailbox-exception" and d["subject"] == "printer@contoso.com"]
    check(len(first) == 1 and "changed_by" not in first[0], "it fired without changed_by (%s)" % first)
    wm = (env.source("audit") or {}).get("watermark")
    time.sleep(13)
    check(bool(audit_run(env, "audit run after")), "another run completes")
    late = [r for r in changes(env) if r[2] == "late-admin@contoso.com"]
    check(len(late) == 1 and late[0][5] == "printer" and late[0][6] == "False" and late[0][7] == "on",
          "the late record is stored by the overlap re-read, though created before the watermark %s (%s)"
          % (wm, late))
    wait_for(lambda: len([d for d in docs(env) if d["rule"] == "unapproved-mailbox-exception"
                          and d["subject"] == "printer@contoso.com"]) >= 2, timeout=30, what="second transition")
    pr = [d for d in docs(env) if d["rule"] == "unapproved-mailbox-exception" and d["subject"] == "printer@contoso.com"]
    check(len(pr) == 2 and pr[0]["id"] == pr[1]["id"] and [d["transition"] for d in pr] == [1, 2]
          and pr[1]["status"] == "firing" and (pr[1].get("changed_by") or {}).get("user") == "late-admin@contoso.com"
          and pr[1]["changed_by"]["ip"] == "198.51.100.77",
          "the same alert gets transition 2 with changed_by late-admin, not a duplicate (%s)"
          % [(d["id"], d["transition"], d.get("changed_by")) for d in pr])
    rc, alerts = env.ctl("alerts")
    same = [a for a in (alerts.get("alerts", []) if rc == 0 else [])
            if a["rule"] == "unapproved-mailbox-exception" and a["subject"] == "printer@contoso.com"]
    check(len(same) == 1, "smtpwatchctl alerts shows one alert for the printer (%d)" % len(same))
    rc, out = env.ctl("changes")
    check(rc == 0 and any(c["user"] == "late-admin@contoso.com" and c["subject"] == "printer"
                          for c in out.get("changes", [])), "smtpwatchctl changes lists the late change")
    ex = env.source("exchange") or {}
    check(ex.get("state") == "ok" and ex.get("last_error") is None,
          "the Exchange source beside it stays healthy (%s)" % ex.get("last_error"))
    rc, text = env.ctl("alerts", json_out=False)
    check(rc == 0 and "printer@contoso.com: switched on by late-admin@contoso.com" in text
          and "from 198.51.100.77 (Set-CASMailbox)" in text,
          "smtpwatchctl alerts says who switched it on, when and from where (%s)" % text[-600:])


def restart_af20024(env):
    """The subscription forgotten by the store: the start answers AF20024,
    which is fine."""
    env.stop_daemon()
    db = env.db()
    db.execute("DELETE FROM audit_subscriptions")
    db.commit()
    db.close()
    n = len(changes(env))
    env.start_daemon()
    ok = wait_for(lambda: (env.source("audit") or {}).get("state") == "ok" and
                  ((env.source("audit") or {}).get("subscription") or {}).get("why") == "AF20024",
                  timeout=60, what="audit run after restart")
    check(bool(ok), "after a restart the start answers AF20024 and the run completes (%s)" % env.source("audit"))
    check(len(changes(env)) == n, "nothing is stored twice after the restart (%d)" % len(changes(env)))


def sigkill_halfway(env):
    """SIGKILL while blobs are being read: after a restart every record is
    stored exactly once and every blob is read."""
    env.sim.request("POST", f"/_sim/tenants/{TENANT}/audit", {"records": [
        {"at": "-%ds" % (30 + i), "user": "bulk-admin@contoso.com", "ip": "198.51.100.%d" % (100 + i),
         "operation": "Set-CASMailbox",
         "parameters": {"Identity": "bulk%d@contoso.com" % i, "SmtpClientAuthenticationDisabled": "False"}}
        for i in range(6)]})
    env.sim.faults([{"endpoint": "manage", "count": -1, "delay_ms": 400}])
    env.ctl("poll")
    wait_for(lambda: any(r[2] == "bulk-admin@contoso.com" for r in changes(env)), timeout=30,
             what="the first bulk record")
    env.daemon.send_signal(signal.SIGKILL)
    env.daemon.wait()
    env.daemon = None
    env.dlog.close()
    partial = len([r for r in changes(env) if r[2] == "bulk-admin@contoso.com"])
    env.sim.clear_faults()
    env.start_daemon()
    ok = wait_for(lambda: len([r for r in changes(env) if r[2] == "bulk-admin@contoso.com"]) == 6
                  and (env.source("audit") or {}).get("state") == "ok", timeout=60, what="the bulk records")
    rows = [r for r in changes(env) if r[2] == "bulk-admin@contoso.com"]
    check(bool(ok) and len(rows) == 6 and len({r[0] for r in rows}) == 6,
          "killed with %d of 6 stored, the restart stores the rest, each once (%d)" % (partial, len(rows)))
    db = env.db()
    pending = db.execute("SELECT count(*) FROM audit_blobs WHERE state = 0").fetchone()[0]
    db.close()
    check(pending == 0, "no blob is left pending (%d)" % pending)


def forbidden(env):
    """A 403 makes the source unhealthy, naming ActivityFeed.Read."""
    env.sim.faults([{"endpoint": "manage", "count": -1, "status": 403}])
    env.ctl("poll")
    ok = wait_for(lambda: (env.source("audit") or {}).get("denied") is True, timeout=60, what="audit denied")
    src = env.source("audit") or {}
    check(bool(ok) and "ActivityFeed.Read" in (src.get("last_error") or ""),
          "the audit source is refused and its error names ActivityFeed.Read (%s)" % src.get("last_error"))
    rc, alerts = env.ctl("alerts")
    un = [a for a in (alerts.get("alerts", []) if rc == 0 else []) if a["rule"] == "source-unhealthy" and a["subject"] == "audit"]
    check(len(un) == 1 and "ActivityFeed.Read" in un[0]["summary"] + (un[0].get("remediation") or ""),
          "source-unhealthy fires for the audit source naming ActivityFeed.Read (%s)" % un)
    check((env.source("signins") or {}).get("denied") is False, "the other sources go on")
    rc, text = env.ctl("metrics", json_out=False)
    check(rc == 0 and 'source="audit"' in text, "metrics carry the audit source")
    env.sim.clear_faults()


BAD = {
    "description": "Three admin records in three blobs; faults make the first blob's URI answer 404 and the "
                   "second answer a body that is not JSON.",
    "tenants": {TENANT: {
        "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": "sim-secret-contoso",
        "domain": "contoso.com",
        "transport_config": {"SmtpClientAuthenticationDisabled": True},
        "mailboxes": [{"PrimarySmtpAddress": "scanner-hq@contoso.com", "SmtpClientAuthenticationDisabled": False}],
        "audit": {"subscription": "enabled", "records": [
            {"at": "-30m", "user": "a@contoso.com", "operation": "Set-CASMailbox",
             "parameters": {"Identity": "x1@contoso.com", "SmtpClientAuthenticationDisabled": "False"}},
            {"at": "-20m", "user": "b@contoso.com", "operation": "Set-CASMailbox",
             "parameters": {"Identity": "x2@contoso.com", "SmtpClientAuthenticationDisabled": "False"}},
            {"at": "-10m", "user": "c@contoso.com", "operation": "Set-CASMailbox",
             "parameters": {"Identity": "x3@contoso.com", "SmtpClientAuthenticationDisabled": "False"}},
            {"at": "-5m", "user": "d@contoso.com", "operation": "Set-CASMailbox", "id": "bad-time-1",
             "parameters": {"Identity": "x4@contoso.com", "SmtpClientAuthenticationDisabled": "False"},
             "raw": {"CreationTime": "yesterday"}},
            {"at": "-5m", "user": "e@contoso.com", "operation": "Set-CASMailbox", "id": "bad-value-1",
             "parameters": {"Identity": "x5@contoso.com", "SmtpClientAuthenticationDisabled": "maybe"}},
        ]},
    }},
    # Request 0 starts the subscription (AF20024: on already), 1 lists, 2 to
    # 4 read the blobs.
    "faults": [{"endpoint": "manage", "after": 2, "count": 1, "status": 404},
               {"endpoint": "manage", "after": 3, "count": 1, "body": "<html>Service Unavailable</html>"}],
}


def bad_input():
    """A content URI that answers 404 and a blob that is not JSON are gaps:
    logged, in status, never retried; the run completes with the rest.  A
    subscription an administrator disabled (AF20023) is source-unhealthy."""
    fd, scenario = tempfile.mkstemp(prefix="sw-audit-bad-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(BAD, f)
    env = Env("audit-bad", scenario=scenario,
              tenant_extra="audit = on\nmanage_url = @SIM@/manage\naudit_interval = 1h\n")
    with open(env.conf) as f:
        text = f.read().replace("@SIM@", env.sim.url)
    with open(env.conf, "w") as f:
        f.write(text)
    try:
        env.start_daemon()
        ok = wait_for(lambda: (env.source("audit") or {}).get("state") == "ok", timeout=60, what="audit run")
        src = env.source("audit") or {}
        check(bool(ok) and src.get("records") == 1 and src.get("blobs_lost") == 2,
              "the run completes with the one readable blob; two are lost (%s)" % src)
        whys = sorted(g.get("why", "") for g in src.get("gaps", []))
        check(len(whys) == 2 and any("HTTP 404" in w and "AF20050" in w for w in whys)
              and any("not a JSON array" in w for w in whys),
              "status lists both as gaps with why (%s)" % whys)
        log = env.log_text()
        check(log.count("lost: ") == 2 and "a coverage gap" in log, "each is logged once")
        check(src.get("skipped") == 2, "two unreadable records are counted as skipped (%s)" % src.get("skipped"))
        line = [ln for ln in log.splitlines() if "skipped 2 unreadable records of 2 in blob" in ln]
        check(len(line) == 1 and "Id bad-time-1" in line[0] and "Id bad-value-1" in line[0],
              "one log line names the blob and each record (%s)" % line)
        rc, table = env.ctl("status", json_out=False)
        check(rc == 0 and "contoso audit: 2 content blobs lost" in table, "the status table says two blobs are lost")
        before = env.sim.stats()["requests"]["manage"]
        check(bool(audit_run(env, "second audit run")), "the next run completes")
        after = env.sim.stats()["requests"]["manage"]
        check(after - before == 1, "and only lists: the lost blobs are not asked for again (%d)" % (after - before))
        env.sim.faults([{"endpoint": "manage", "count": 2, "status": 429, "retry_after": 1}])
        check(bool(audit_run(env, "throttled audit run")), "a run throttled twice (429, Retry-After 1) completes")
        src = env.source("audit") or {}
        check(src.get("throttled", 0) >= 2 and src.get("last_retry_after") == 1 and src.get("state") == "ok",
              "status counts the 429s and their Retry-After (%s, %s)" % (src.get("throttled"),
                                                                         src.get("last_retry_after")))
        env.sim.clear_faults()
        env.sim.request("POST", f"/_sim/tenants/{TENANT}/audit", {"subscription": "disabled"})
        env.ctl("poll")
        ok = wait_for(lambda: (env.source("audit") or {}).get("denied") is True, timeout=60, what="AF20023")
        src = env.source("audit") or {}
        check(bool(ok) and "AF20023" in (src.get("last_error") or "") and "disabled" in (src.get("last_error") or "")
              and (src.get("subscription") or {}).get("status") == "disabled",
              "a disabled subscription makes the source refused, saying so (%s)" % src.get("last_error"))
        rc, alerts = env.ctl("alerts")
        un = [a for a in (alerts.get("alerts", []) if rc == 0 else [])
              if a["rule"] == "source-unhealthy" and a["subject"] == "audit"]
        check(len(un) == 1 and "disabled" in un[0]["summary"], "source-unhealthy says the subscription is disabled")
        env.sim.request("POST", f"/_sim/tenants/{TENANT}/audit", {"subscription": "off"})
        env.ctl("poll")
        ok = wait_for(lambda: "unified audit logging is probably off" in ((env.source("audit") or {}).get("last_error")
                                                                          or ""), timeout=60, what="auditing off")
        src = env.source("audit") or {}
        check(bool(ok) and src.get("denied") is True and "at Microsoft" not in (src.get("last_error") or ""),
              "auditing off (\"Tenant ... does not exist\") is refused, saying what to turn on, without the stack "
              "trace (%s)" % src.get("last_error"))
    finally:
        env.close()
        os.unlink(scenario)


def old_checkpoint(env):
    """A checkpoint older than Microsoft's 7 days: status says what is lost;
    and with the service's clock 30 minutes ahead, the start it refuses
    (AF20056) moves later until it is taken."""
    env.stop_daemon()
    db = env.db()
    db.execute("UPDATE checkpoints SET watermark = strftime('%s','now') - 8 * 86400 WHERE source = 'audit'")
    db.commit()
    db.close()
    env.sim.request("POST", "/_sim/clock", {"advance": "30m"})
    env.start_daemon()
    ok = wait_for(lambda: (env.source("audit") or {}).get("state") == "ok", timeout=60, what="audit run")
    src = env.source("audit") or {}
    check(bool(ok) and "no longer available" in (src.get("coverage") or ""),
          "status names the audit records that are gone (%s)" % src.get("coverage"))
    rc, table = env.ctl("status", json_out=False)
    check(rc == 0 and "contoso audit: audit records from " in table and "are no longer available" in table,
          "and so does its table")
    log = env.log_text()
    check("AF20056" in log and "starting 600 s later" in log,
          "AF20056 moves the window's start instead of failing the run")


def main():
    bad_input()
    env = audit_env("audit")
    try:
        env.start_daemon()
        source_basics(env)
        attribution(env)
        late_record(env)
        restart_af20024(env)
        sigkill_halfway(env)
        forbidden(env)
        old_checkpoint(env)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
