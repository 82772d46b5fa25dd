"""Remediation, end to end against the simulator: smtpwatchctl remediate
(dry run, a write with its read-back and its remediated transition at the
webhook, the refusals), a 403 recorded as failed, auto mode stopping at
remediation_max_per_hour, and a daemon killed between the write and the
read-back finishing the record on restart, once."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SMTPWATCHCTL, SCALE, Env, check, finish, wait_for  # noqa: E402

MAILBOXES = ["m1@contoso.com", "m2@contoso.com", "m3@contoso.com"]


WRITE_APP = "22222222-2222-2222-2222-222222222222"
WRITE_SECRET = "sim-write-secret-contoso"


def scenario(write_app=False):
    fd, path = tempfile.mkstemp(prefix="sw-remediate-", suffix=".json")
    extra = {"write_app": {"client_id": WRITE_APP, "client_secret": WRITE_SECRET}} if write_app else {}
    with os.fdopen(fd, "w") as f:
        json.dump({"tenants": {"contoso.onmicrosoft.com": {**extra,
            "client_id": "11111111-1111-1111-1111-111111111111",
            "client_secret": "sim-secret-contoso",
            "domain": "contoso.com",
            "signins": [{"at": "-2h", "every": "10m", "count": 3, "user": "m2@contoso.com", "ip": "198.51.100.7",
                         "country": "NL"}],
            "transport_config": {"SmtpClientAuthenticationDisabled": True},
            "mailboxes": [{"PrimarySmtpAddress": "scanner-hq@contoso.com", "SmtpClientAuthenticationDisabled": False}]
            + [{"PrimarySmtpAddress": m, "SmtpClientAuthenticationDisabled": False} for m in MAILBOXES],
        }}}, f)
    return path


def writes(env):
    return env.sim.request("GET", "/_sim/exchange-writes")["writes"]


def alert_of(env, rule, subject, all_=False):
    rc, data = env.ctl("alerts", "--all") if all_ else env.ctl("alerts")
    if rc != 0:
        return None
    for a in data["alerts"]:
        if a["rule"] == rule and a["subject"] == subject:
            return a
    return None


def docs(env):
    return [json.loads(h["body"]) for h in env.sim.hooks("soc")]


def actions(env):
    db = env.db()
    rows = db.execute("SELECT id, target, outcome, written_at, read_back_at, state_read, answer, requested_by "
                      "FROM remediations ORDER BY id").fetchall()
    db.close()
    return rows


def first_snapshot(env):
    return wait_for(lambda: all(alert_of(env, "unapproved-mailbox-exception", m) for m in MAILBOXES),
                    timeout=60, what="the unapproved-mailbox-exception alerts")


def manual(path):
    env = Env("remediate", scenario=path, tenant_extra="remediation = manual\n")
    try:
        env.start_daemon()
        check(bool(first_snapshot(env)), "m1, m2, m3 fire unapproved-mailbox-exception")
        a1 = alert_of(env, "unapproved-mailbox-exception", "m1@contoso.com")

        # Dry run: the exact cmdlet, nothing written.
        rc, out = env.ctl("remediate", a1["id"], "--dry-run", json_out=False)
        check(rc == 0 and "Set-CASMailbox -Identity m1@contoso.com -SmtpClientAuthenticationDisabled $true" in out
              and "nothing written" in out, "the dry run prints the exact cmdlet (%s)" % out.strip())
        check(writes(env) == [], "the dry run writes nothing (the simulator's write log is empty)")
        check(actions(env) == [], "and records no action")

        # Manual: one write, read back, recorded, remediated at the webhook, then resolved.
        rc, out = env.ctl("remediate", a1["id"], json_out=False)
        check(rc == 0 and "done" in out and "SmtpClientAuthenticationDisabled = true" in out,
              "remediate runs the cmdlet and reads the mailbox back (%s)" % out.strip())
        w = writes(env)
        check(len(w) == 1 and w[0]["cmdlet"] == "Set-CASMailbox" and w[0]["parameters"] ==
              {"Identity": "m1@contoso.com", "SmtpClientAuthenticationDisabled": True},
              "exactly one cmdlet was written (%s)" % w)
        rows = actions(env)
        check(len(rows) == 1 and rows[0][2] == "done" and rows[0][3] > 0 and rows[0][4] > 0 and rows[0][5] == "true"
              and rows[0][7] not in ("auto", None),
              "the action is recorded with who asked, the write, the read-back (%s)" % (rows,))
        got = wait_for(lambda: [d for d in docs(env) if d["id"] == a1["id"] and d["status"] == "remediated"],
                       timeout=30, what="the remediated transition")
        check(bool(got) and got[0]["remediation_action"]["command"] ==
              "Set-CASMailbox -Identity m1@contoso.com -SmtpClientAuthenticationDisabled $true",
              "the webhook gets the remediated transition with the cmdlet")
        res = wait_for(lambda: [d for d in docs(env) if d["id"] == a1["id"] and d["status"] == "resolved"],
                       timeout=60, what="the resolution")
        check(bool(res), "the alert resolves once the next Exchange poll agrees")
        rc, out = env.ctl("remediate", a1["id"], json_out=False)
        check(rc != 0 and "resolved" in out, "a resolved alert is refused (%s)" % out.strip())

        # 403: recorded as failed with Microsoft's message; the alert stays firing.
        a2 = alert_of(env, "unapproved-mailbox-exception", "m2@contoso.com")
        env.sim.faults([{"endpoint": "exchange", "cmdlet": "Set-CASMailbox", "status": 403, "count": 1}])
        rc, out = env.ctl("remediate", a2["id"], json_out=False)
        check(rc == 1 and "User is not allowed to call Set-CASMailbox" in out,
              "a 403 is recorded as failed with Microsoft's message (%s)" % out.strip())
        check(len(writes(env)) == 1, "nothing more was written")
        check(alert_of(env, "unapproved-mailbox-exception", "m2@contoso.com") is not None, "the alert stays firing")
        env.ctl("poll")
        su = wait_for(lambda: alert_of(env, "source-unhealthy", "remediation"), timeout=90,
                      what="source-unhealthy for remediation")
        check(bool(su) and "Exchange Administrator" in (su.get("remediation") or ""),
              "source-unhealthy names the missing role (%s)" % (su and su.get("remediation")))
        if su:
            rc, out = env.ctl("remediate", su["id"], json_out=False)
            check(rc != 0 and "not remediable" in out, "a health alert is not remediable (%s)" % out.strip())

        # status: what remediation did today, and that writes are refused.
        rem = ((env.status() or {}).get("tenants", {}).get("contoso") or {}).get("remediation") or {}
        check(rem.get("mode") == "manual" and rem.get("done_24h") == 1 and rem.get("failed_24h") == 1 and
              rem.get("refused") is True and "Set-CASMailbox" in (rem.get("why") or ""),
              "status --json: manual, one done and one failed today, writes refused (%s)" % rem)
        check((rem.get("last") or {}).get("target") == "m2@contoso.com" and
              (rem.get("last") or {}).get("outcome") == "failed", "and the newest action (%s)" % rem.get("last"))
        rc, text = env.ctl("status", json_out=False)
        line = [l for l in text.splitlines() if l.startswith("contoso remediation:")]
        check(rc == 0 and len(line) == 2 and "manual with client_id" in line[0] and "1 done, 1 failed" in line[0]
              and "writes refused" in line[1], "smtpwatchctl status says it in two lines (%s)" % line)

        # A registered mailbox is refused: m2 joins the register, the snapshot is held back.
        with open(env.register, "a") as f:
            f.write("\n[exception m2@contoso.com]\nowner = ops@contoso.com\nticket = CHG-77\nexpires = %s\n" %
                    time.strftime("%Y-%m-%d", time.gmtime(time.time() + 20 * 86400)))
        # (held long enough that the reload's snapshot cannot resolve the alert first, valgrind included)
        hold = min(int(60000 * SCALE), 3600000)
        env.sim.faults([{"endpoint": "exchange", "cmdlet": "Get-TransportConfig", "delay_ms": hold, "count": 2}])
        rc, _ = env.ctl("reload")
        rc, out = env.ctl("remediate", a2["id"], json_out=False)
        check(rc != 0 and "valid register entry" in out and "CHG-77" in out,
              "a mailbox with a valid register entry is refused (%s)" % out.strip())
        check(len(writes(env)) == 1, "and nothing is written")
        env.sim.clear_faults()

        # SIGKILL between the write and the read-back.
        a3 = alert_of(env, "unapproved-mailbox-exception", "m3@contoso.com")
        env.sim.faults([{"endpoint": "exchange", "cmdlet": "Set-CASMailbox", "delay_ms": 30000, "count": 1}])
        ctl = subprocess.Popen([SMTPWATCHCTL, "-s", env.socket, "remediate", a3["id"]], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        applied = wait_for(lambda: any(x["target"] == "m3@contoso.com" for x in writes(env)), timeout=30,
                           what="the write of m3")
        check(bool(applied), "the write reached Exchange (its answer is held back)")
        pend = [r for r in actions(env) if r[1] == "m3@contoso.com"]
        check(len(pend) == 1 and pend[0][2] == "pending" and pend[0][3] == 0,
              "the action is recorded as pending before the answer (%s)" % pend)
        env.daemon.send_signal(signal.SIGKILL)
        env.daemon.wait()
        env.daemon = None
        env.dlog.close()
        ctl.wait(30)
        os.unlink(env.socket)
        env.sim.clear_faults()
        env.start_daemon()
        done = wait_for(lambda: [r for r in actions(env) if r[1] == "m3@contoso.com" and r[2] != "pending"],
                        timeout=60, what="the read-back after the restart")
        check(len(done) == 1 and done[0][2] == "done" and done[0][4] > 0 and done[0][5] == "true"
              and "stopped" in (done[0][6] or ""),
              "on restart the read-back happens and completes the record (%s)" % done)
        check(len([r for r in actions(env) if r[1] == "m3@contoso.com"]) == 1, "the action is recorded once")
        check(len([x for x in writes(env) if x["target"] == "m3@contoso.com"]) == 1, "and written once")
        got = wait_for(lambda: [d for d in docs(env) if d["id"] == a3["id"] and d["status"] == "remediated"],
                       timeout=30, what="the remediated transition of m3")
        check(bool(got), "its remediated transition reaches the webhook")

        # The plan: the tenant switch is off already; m2 keeps its own override.
        rc, plan = env.ctl("plan", "contoso")
        p = plan["tenants"][0] if rc == 0 else {}
        check(rc == 0 and p.get("tenant_switch") == "off" and p.get("commands") == [] and
              [k["address"] for k in p.get("kept", [])] == ["m2@contoso.com"] and p["kept"][0]["signins"] == 3,
              "plan: nothing to run, m2 (3 Basic sign-ins) keeps its own override (%s)" % plan)
        rc, out = env.ctl("plan", json_out=False)
        check(rc == 0 and "nothing to run: the tenant switch is already off" in out, "plan as text (%s)" % out.strip())

        # Remediation off: refused with the reason.
        with open(env.conf) as f:
            text = f.read()
        with open(env.conf, "w") as f:
            f.write(text.replace("remediation = manual", "remediation = off"))
        env.ctl("reload")
        rc, out = env.ctl("remediate", a2["id"], "--dry-run", json_out=False)
        check(rc != 0 and "remediation is off for tenant contoso" in out, "remediation off: refused (%s)" % out.strip())
        rc, out = env.ctl("plan", json_out=False)
        check(rc != 0 and "remediation is off" in out, "plan is refused too (%s)" % out.strip())
        log = env.log_text()
        check("sim-secret" not in log, "no secret in the log")
    finally:
        env.close()


def auto(path):
    env = Env("remediate-auto", scenario=path,
              tenant_extra="remediation = auto\nremediation_max_per_hour = 2\n")
    try:
        env.start_daemon()
        ok = wait_for(lambda: len([r for r in actions(env) if r[2] == "done"]) >= 2, timeout=90,
                      what="two automatic actions")
        check(bool(ok), "auto mode remediates on its own")
        env.ctl("poll")
        wait_for(lambda: env.source("exchange")["state"] == "ok" and
                 alert_of(env, "unapproved-mailbox-exception", "m1@contoso.com") is None and
                 alert_of(env, "unapproved-mailbox-exception", "m2@contoso.com") is None, timeout=60,
                 what="the next snapshot")
        time.sleep(1 * SCALE)
        w = writes(env)
        targets = sorted(x["target"] for x in w)
        check(len(w) == 2 and "scanner-hq@contoso.com" not in targets,
              "it stops at remediation_max_per_hour = 2, and never touches the registered mailbox (%s)" % targets)
        rows = actions(env)
        check(len(rows) == 2 and all(r[7] == "auto" for r in rows), "both are recorded as auto (%s)" % (rows,))
        left = [m for m in MAILBOXES if m not in targets]
        check(len(left) == 1 and alert_of(env, "unapproved-mailbox-exception", left[0]) is not None,
              "the third alert stays firing")
        check("remediation_max_per_hour (2) reached" in env.log_text(), "the log says why it waits")
        got = wait_for(lambda: len([d for d in docs(env) if d["status"] == "remediated"]) == 2, timeout=30,
                       what="two remediated transitions")
        check(bool(got), "every automatic action reaches the sinks")
    finally:
        env.close()


def tenant_scenario():
    fd, path = tempfile.mkstemp(prefix="sw-remediate-tenant-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"tenants": {"contoso.onmicrosoft.com": {
            "client_id": "11111111-1111-1111-1111-111111111111",
            "client_secret": "sim-secret-contoso",
            "domain": "contoso.com",
            "signins": [{"at": "-3h", "every": "10m", "count": 3, "user": "printer@contoso.com", "ip": "198.51.100.7",
                         "country": "NL"},
                        {"at": "-3h", "every": "10m", "count": 2, "user": "scanner-hq@contoso.com",
                         "ip": "203.0.113.5", "country": "US"}],
            "transport_config": {"SmtpClientAuthenticationDisabled": False},
            "mailboxes": [{"PrimarySmtpAddress": "scanner-hq@contoso.com", "SmtpClientAuthenticationDisabled": None},
                          {"PrimarySmtpAddress": "printer@contoso.com", "SmtpClientAuthenticationDisabled": None}],
        }}}, f)
    return path


def tenant_switch(path):
    """The plan for a tenant whose switch is on, and the switch turned off
    by hand with --tenant-switch."""
    env = Env("remediate-tenant", scenario=path, tenant_extra="remediation = manual\n")
    try:
        env.start_daemon()
        ta = wait_for(lambda: alert_of(env, "tenant-smtp-auth-enabled", "contoso") or
                      next((a for a in (env.ctl("alerts")[1] or {}).get("alerts", [])
                            if a["rule"] == "tenant-smtp-auth-enabled"), None), timeout=60,
                      what="tenant-smtp-auth-enabled")
        check(bool(ta), "tenant-smtp-auth-enabled fires")
        wait_for(lambda: (env.source("signins") or {}).get("state") == "ok", timeout=60, what="sign-ins")
        rc, plan = env.ctl("plan")
        p = plan["tenants"][0] if rc == 0 else {}
        breaks = {b["address"]: b for b in p.get("breaks", [])}
        check(rc == 0 and p.get("tenant_switch") == "on" and set(breaks) ==
              {"printer@contoso.com", "scanner-hq@contoso.com"} and breaks["printer@contoso.com"]["signins"] == 3
              and breaks["printer@contoso.com"]["basic"] and breaks["scanner-hq@contoso.com"]["registered"],
              "plan: both senders rely on the tenant switch, with their volume (%s)" % plan)
        check(p.get("commands") == ["Set-CASMailbox -Identity scanner-hq@contoso.com -SmtpClientAuthenticationDisabled $false",
                                    "Set-TransportConfig -SmtpClientAuthenticationDisabled $true"] and
              [n["address"] for n in p.get("needs_override", [])] == ["scanner-hq@contoso.com"],
              "the registered exception gets its own override first, then the switch (%s)" % p.get("commands"))
        rc, out = env.ctl("plan", json_out=False)
        check(rc == 0 and "1. Set-CASMailbox -Identity scanner-hq@contoso.com" in out and "printer@contoso.com" in out,
              "plan as text lists the senders and the commands in order")
        check(writes(env) == [], "plan runs nothing")
        if ta:
            rc, out = env.ctl("remediate", ta["id"], json_out=False)
            check(rc != 0 and "--tenant-switch" in out, "the tenant switch needs --tenant-switch (%s)" % out.strip())
            rc, out = env.ctl("remediate", ta["id"], "--tenant-switch", json_out=False)
            check(rc == 0 and "Set-TransportConfig -SmtpClientAuthenticationDisabled $true" in out and "done" in out,
                  "with --tenant-switch the tenant switch goes off and reads back (%s)" % out.strip())
            w = [x for x in writes(env) if x["cmdlet"] == "Set-TransportConfig"]
            check(len(w) == 1 and w[0]["parameters"] == {"SmtpClientAuthenticationDisabled": True},
                  "one Set-TransportConfig was written (%s)" % w)
            res = wait_for(lambda: [d for d in docs(env) if d["id"] == ta["id"] and d["status"] == "resolved"],
                           timeout=60, what="the tenant alert's resolution")
            check(bool(res), "tenant-smtp-auth-enabled resolves at the next poll")
    finally:
        env.close()


def write_app(path):
    """A separate app registration for writes: the read app holds no role
    (the simulator answers its writes 403), the write app's token writes."""
    env = Env("remediate-write", scenario=path, tenant_extra="remediation = manual\n")
    try:
        secret = os.path.join(env.dir, "contoso-write.secret")
        with open(secret, "w") as f:
            f.write(WRITE_SECRET + "\n")
        os.chmod(secret, 0o600)
        with open(env.conf) as f:
            text = f.read()
        with open(env.conf, "w") as f:
            f.write(text.replace("remediation = manual\n", "remediation = manual\nremediation_client_id = %s\n"
                                 "remediation_client_secret_file = %s\n" % (WRITE_APP, secret)))
        env.start_daemon()
        check(bool(first_snapshot(env)), "the read app reads as before")
        a1 = alert_of(env, "unapproved-mailbox-exception", "m1@contoso.com")
        rc, dry = env.ctl("remediate", a1["id"], "--dry-run")
        check(rc == 0 and dry.get("credentials") == "remediation_client_id " + WRITE_APP,
              "the dry run names the write app (%s)" % dry)
        rc, out = env.ctl("remediate", a1["id"], json_out=False)
        w = writes(env)
        check(rc == 0 and len(w) == 1 and w[0]["app_id"] == WRITE_APP,
              "the write goes out with the write app's token (%s; %s)" % (w, out.strip()))
        check(WRITE_SECRET not in env.log_text(), "the write secret is not in the log")
        p = subprocess.run([os.environ.get("SMTPWATCHD", "smtpwatchd"), "-T", "-c", env.conf], capture_output=True,
                           text=True)
        check(p.returncode == 0 and secret in p.stdout and WRITE_SECRET not in p.stdout,
              "-T shows the write secret's path, never the secret")
    finally:
        env.close()


def main():
    path = scenario()
    tpath = tenant_scenario()
    wpath = scenario(write_app=True)
    try:
        manual(path)
        auto(path)
        tenant_switch(tpath)
        write_app(wpath)
    finally:
        for p in (path, tpath, wpath):
            os.unlink(p)
    finish()


if __name__ == "__main__":
    main()
