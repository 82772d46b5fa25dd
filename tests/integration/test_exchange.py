"""Exchange configuration and exception drift, end to end: the simulator's
InvokeCommand answers (paged Get-CASMailbox), the register, the state rules
firing once and resolving, and what an operator sees with smtpwatchctl."""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


REGISTER = f"""[exception scanner-hq@contoso.com]
owner = facilities@contoso.com
justification = Ricoh MFP scan-to-mail
ticket = CHG-1
expires = {day(10)}

[exception fax@contoso.com]
owner = office@contoso.com
ticket = CHG-2
expires = {day(-3)}

[exception old-app@contoso.com]
owner = apps@contoso.com
ticket = CHG-3
expires = {day(60)}

[exception gone@contoso.com]
owner = apps@contoso.com
ticket = CHG-4
expires = {day(60)}
"""


def docs(env):
    return [(json.loads(h["body"]), h["headers"].get("idempotency-key")) for h in env.sim.hooks("soc")]


def by_key(ds):
    out = {}
    for d, _ in ds:
        out.setdefault((d["rule"], d["subject"]), []).append(d["status"])
    return out


def poll_and_wait(env, source="exchange"):
    before = env.source(source)["last_success"]
    env.ctl("poll")
    return wait_for(lambda: (env.source(source) or {}).get("last_success") != before
                    and env.source(source)["state"] == "ok", timeout=60, what="exchange run")


UNREADABLE = {
    "description": "Records a client cannot read: a sign-in without id between readable ones, two with "
                   "9 fraction digits (as elastic's captures have them), and AllowBasicAuthSmtp as the "
                   "string \"False\".",
    "page_size": 1000,
    "tenants": {"contoso.onmicrosoft.com": {
        "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": "sim-secret-contoso",
        "domain": "contoso.com",
        "signins": [
            {"at": "-50m", "every": "10m", "count": 3, "user": "scanner-hq@contoso.com",
             "ip": "203.0.113.5", "country": "US"},
            {"at": "-35m", "user": "ghost@contoso.com", "ip": "198.51.100.9", "omit_id": True},
            {"at": "-20m", "every": "1m", "count": 2, "user": "elastic@contoso.com", "ip": "198.51.100.8",
             "fraction_digits": 9},
        ],
        "transport_config": {"SmtpClientAuthenticationDisabled": True},
        "organization_config": {"DefaultAuthenticationPolicy": "Block Basic Auth"},
        "mailboxes": [{"PrimarySmtpAddress": "scanner-hq@contoso.com", "SmtpClientAuthenticationDisabled": False}],
        "authentication_policies": [{"Name": "Block Basic Auth", "AllowBasicAuthSmtp": "False"}],
    }},
}


def unreadable():
    """A page with a record the parser cannot read stores the rest, the run
    is complete, and status, metrics and the log say one was skipped."""
    fd, scenario = tempfile.mkstemp(prefix="sw-unreadable-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(UNREADABLE, f)
    env = Env("unreadable", scenario=scenario)
    try:
        env.start_daemon()
        ok = wait_for(lambda: (env.source("signins") or {}).get("state") == "ok"
                      and env.source("exchange")["state"] == "ok", timeout=60, what="first runs")
        check(bool(ok), "both runs complete despite the unreadable record")
        src = env.source("signins") or {}
        check(src.get("records") == 5 and src.get("last_error") is None,
              "the five readable sign-ins are stored, 9 fraction digits included (%s)" % src.get("records"))
        check(src.get("skipped") == 1, "status shows skipped = 1 for signins (%s)" % src.get("skipped"))
        check((env.source("exchange") or {}).get("skipped") == 0, "and 0 for exchange")
        db = env.db()
        n9 = db.execute("SELECT count(*) FROM signins WHERE upn = 'elastic@contoso.com' "
                        "AND created_text LIKE '%.%________Z'").fetchone()[0]
        db.close()
        check(n9 == 2, "both 9-digit records are in the database with their text (%s)" % n9)
        log = env.log_text()
        line = [ln for ln in log.splitlines() if "skipped 1 unreadable record of 6" in ln]
        check(len(line) == 1 and "#3: no id" in line[0],
              "one log line names the record by its position (%s)" % (line or log[-600:]))
        check("1 unreadable skipped" in log, "the run's closing line counts it")
        rc, text = env.ctl("metrics", json_out=False)
        check(rc == 0 and 'smtpwatch_records_skipped_total{tenant="contoso",source="signins"} 1' in text,
              "the metric counts it")
        rc, table = env.ctl("status", json_out=False)
        check(rc == 0 and "(1 skipped)" in table, "the status table shows it beside the records")
        rc, mb = env.ctl("mailbox", "scanner-hq@contoso.com")
        reason = mb["tenants"][0].get("reason", "") if rc == 0 else mb
        check("Basic blocked by policy Block Basic Auth" in reason,
              "AllowBasicAuthSmtp \"False\" blocks Basic like false does (%s)" % reason)

        # From the next run's third request on (Get-AuthenticationPolicy,
        # then Get-CASMailbox), Exchange answers warnings and no "value".
        warn = json.dumps({"@odata.context": "https://outlook.office365.com/adminapi/beta/x/$metadata",
                           "adminapi.warnings@odata.type": "#Collection(String)",
                           "@adminapi.warnings": ["The operation couldn't be performed because object "
                                                  "'Block Basic Auth' couldn't be found."]})
        env.sim.faults([{"endpoint": "exchange", "after": 2, "count": -1, "body": warn}])
        before = env.source("exchange")
        env.ctl("poll")
        done = wait_for(lambda: (env.source("exchange") or {}).get("runs", 0) > before["runs"]
                        and not env.source("exchange")["state"] == "running", timeout=60, what="exchange run")
        src = env.source("exchange") or {}
        check(bool(done) and src.get("state") == "ok",
              "a warnings-only answer is an empty page, not a failed run (%s)" % src.get("last_error"))
        check(src.get("failed_runs") == before["failed_runs"], "no failed run (%s)" % src.get("failed_runs"))
        log = env.log_text()
        check("Get-AuthenticationPolicy: warning: The operation couldn't be performed" in log,
              "its warning is logged")
        check("Get-CASMailbox returned no mailbox, only warnings" in log, "and the empty mailbox answer said so")
        rc, mb = env.ctl("mailbox", "scanner-hq@contoso.com")
        check(rc == 0 and mb["tenants"][0].get("switch") == "false",
              "the mailboxes of the last snapshot are kept, not reported removed (%s)" % str(mb)[:300])

        # A sign-ins page of 1,001 records: more than Graph ever sends.
        page = {"value": [{"id": "big-%04d" % i, "createdDateTime": "2026-11-20T08:01:12Z",
                           "userPrincipalName": "big@contoso.com"} for i in range(1001)]}
        env.sim.faults([{"endpoint": "signins", "count": -1, "body": json.dumps(page)}])
        before = env.source("signins")
        env.ctl("poll")
        wait_for(lambda: (env.source("signins") or {}).get("failed_runs", 0) > before["failed_runs"],
                 timeout=60, what="sign-ins run refused")
        src = env.source("signins") or {}
        check(src.get("state") == "failing" and "refused a page of 1001 records (Graph sends at most 1000)"
              in (src.get("last_error") or ""), "the page is refused and the run fails (%s)" % src.get("last_error"))
        check(src.get("records") == before["records"], "nothing of it is stored (%s)" % src.get("records"))
        check("refused a page of 1001 records" in env.log_text(), "with a log line")
        env.sim.clear_faults()
    finally:
        env.close()
        os.unlink(scenario)


def main():
    unreadable()
    env = Env("exchange", scenario="exchange.json", register=REGISTER)
    try:
        env.start_daemon()
        ok = wait_for(lambda: (env.source("exchange") or {}).get("state") == "ok"
                      and env.source("signins")["state"] == "ok", timeout=60, what="first runs")
        check(bool(ok), "both sources complete a run")
        src = env.source("exchange")
        check(src["records"] == 154, "every mailbox across the Get-CASMailbox pages is read (%s)" % src["records"])

        expect = {
            ("unapproved-mailbox-exception", "printer@contoso.com"): ["firing"],
            ("exception-expired", "fax@contoso.com"): ["firing"],
            ("exception-expiring", "scanner-hq@contoso.com"): ["firing"],
            ("exception-register-stale", "old-app@contoso.com"): ["firing"],
            ("exception-register-stale", "gone@contoso.com"): ["firing"],
        }
        got = wait_for(lambda: len(docs(env)) >= len(expect) and by_key(docs(env)), timeout=30, what="alerts")
        time.sleep(1)
        got = by_key(docs(env))
        check(got == expect, "each state rule fires exactly once for its mailbox (%s)" % got)
        sev = {d["rule"]: d["severity"] for d, _ in docs(env)}
        check(sev.get("exception-expiring") == "low" and sev.get("exception-register-stale") == "info"
              and sev.get("exception-expired") == "high", "severities follow SPEC (%s)" % sev)

        rc, ex = env.ctl("exceptions")
        check(rc == 0, "smtpwatchctl --json exceptions answers")
        verdicts = {r["mailbox"]: r["verdict"] for r in ex.get("exceptions", [])} if rc == 0 else {}
        check(verdicts == {"printer@contoso.com": "unapproved", "fax@contoso.com": "expired",
                           "scanner-hq@contoso.com": "expiring", "old-app@contoso.com": "stale",
                           "gone@contoso.com": "stale"}, "verdicts per mailbox (%s)" % verdicts)
        row = [r for r in ex.get("exceptions", []) if r["mailbox"] == "scanner-hq@contoso.com"]
        check(row and row[0]["owner"] == "facilities@contoso.com" and row[0]["ticket"] == "CHG-1"
              and row[0]["days_left"] in (9, 10) and row[0]["last_used"] is not None,
              "the register entry sits beside its use (%s)" % (row[0] if row else None))
        check(ex.get("tenants", {}).get("contoso", {}).get("tenant_switch") == "off", "tenant switch shown off")
        rc, table = env.ctl("exceptions", json_out=False)
        check(rc == 0 and "printer@contoso.com" in table and "unapproved" in table and "on: mailbox override false"
              in table, "the exceptions table reads well")

        rc, mb = env.ctl("mailbox", "Printer@Contoso.com")
        t0 = mb["tenants"][0] if rc == 0 else {}
        check(rc == 0 and t0.get("switch") == "false" and t0.get("effective") == "on"
              and t0.get("reason") == "on: mailbox override false", "mailbox shows switch, effective state, reason")
        check(len(t0.get("alerts", [])) == 1, "mailbox shows its open alert")
        rc, _ = env.ctl("mailbox", "nobody@contoso.com")
        check(rc == 1, "an unknown mailbox is an error (exit 1)")

        # +30m: the tenant switch turns on, the printer's override goes back to null.
        env.sim.request("POST", "/_sim/clock", {"advance": "31m"})
        check(bool(poll_and_wait(env)), "the next snapshot is taken")
        time.sleep(1.5)
        got = by_key(docs(env))
        check(got.get(("tenant-smtp-auth-enabled", "contoso.onmicrosoft.com")) == ["firing"],
              "turning the tenant switch on raises one critical alert (%s)" % got)
        check(not any(k[0] == "unapproved-mailbox-exception" and k[1].startswith("user") for k in got),
              "not one alert per inheriting mailbox")
        check(got.get(("unapproved-mailbox-exception", "printer@contoso.com")) == ["firing", "resolved"],
              "the printer's override going to null resolves its alert")
        crit = [d for d, _ in docs(env) if d["rule"] == "tenant-smtp-auth-enabled"]
        check(crit and crit[0]["severity"] == "critical" and "Set-TransportConfig" in crit[0]["remediation"],
              "critical, with the remediation command")
        rc, mb = env.ctl("mailbox", "printer@contoso.com")
        hist = mb["tenants"][0]["history"] if rc == 0 else []
        check(any(h["field"] == "SmtpClientAuthenticationDisabled" and h["old"] == "false" and h["new"] == "null"
                  for h in hist), "the mailbox history records false -> null (%s)" % hist)
        check(mb["tenants"][0]["reason"].startswith("on: inherits tenant switch"), "printer now inherits (on)")

        # +60m: the switch is off again.
        env.sim.request("POST", "/_sim/clock", {"advance": "30m"})
        check(bool(poll_and_wait(env)), "a third snapshot is taken")
        time.sleep(1.5)
        got = by_key(docs(env))
        check(got.get(("tenant-smtp-auth-enabled", "contoso.onmicrosoft.com")) == ["firing", "resolved"],
              "turning it off again resolves the tenant alert (%s)" % got)
        keys = [k for _, k in docs(env)]
        check(len(keys) == len(set(keys)), "every notification has its own Idempotency-Key")
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
