"""The walking skeleton, end to end: a simulated tenant's Basic-auth SMTP
sign-ins through token, paging, SQLite, the rule, the outbox and two real
sinks, seen by an operator through smtpwatchctl."""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for, SMTPWATCHD  # noqa: E402

RULE = "unapproved-basic-auth-submission"


def alerts_for(hooks, subject):
    return [h for h in hooks if '"subject":"%s"' % subject in h["body"]]


def test_check_config(env):
    p = subprocess.run([SMTPWATCHD, "--check-config", "-c", env.conf], capture_output=True, text=True)
    check(p.returncode == 0, "--check-config accepts the generated config (%r)" % p.stderr.strip())

    bad = os.path.join(env.dir, "bad.conf")
    with open(env.conf) as f:
        text = f.read()
    lines = text.splitlines()
    lines.insert(1, "retention = forever")
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = subprocess.run([SMTPWATCHD, "--check-config", "-c", bad], capture_output=True, text=True)
    check(p.returncode == 1, "--check-config exits 1 on a bad duration")
    check(re.search(r"bad\.conf:2: .*retention", p.stderr) is not None,
          "the problem is reported as FILE:LINE (%r)" % p.stderr.strip())

    os.chmod(env.secret, 0o644)
    p = subprocess.run([SMTPWATCHD, "--check-config", "-c", env.conf], capture_output=True, text=True)
    os.chmod(env.secret, 0o600)
    check(p.returncode == 1 and "contoso.secret" in p.stderr, "a secret readable by others is refused")
    check("sim-secret-contoso" not in p.stderr + p.stdout, "the secret is never printed")


def test_cycle(env):
    env.start_daemon()
    src = wait_for(lambda: (env.source() or {}).get("last_success") and env.source(), timeout=60,
                   what="first successful sign-ins run")
    check(bool(src), "the sign-ins source completes a run")
    if not src:
        print(env.log_text())
        return
    check(src["state"] == "ok", "the sign-ins source is healthy (%s)" % src["state"])
    check(src["watermark"] is not None, "the sign-ins source has a watermark")
    check(src["records"] == 14, "all 14 SMTP sign-ins are stored across pages (%s)" % src["records"])

    hooks = wait_for(lambda: env.sim.hooks("soc"), timeout=30, what="webhook delivery")
    check(len(hooks) == 1, "the webhook received exactly one alert (%d)" % len(hooks))
    if hooks:
        import json
        h = hooks[0]
        doc = json.loads(h["body"])
        check(doc["rule"] == RULE, "rule is %s" % RULE)
        check(doc["subject"] == "scanner2@contoso.com", "subject is the unregistered sender")
        check(doc["severity"] == "high" and doc["status"] == "firing", "high, firing")
        check(doc["tenant"] == "contoso", "tenant is the config's tenant name")
        check(doc["count"] == 5, "count is the 5 sign-ins (%s)" % doc["count"])
        check("198.51.100.7" in doc["evidence"]["ips"], "evidence carries the source IP")
        check(len(doc["evidence"]["signin_ids"]) == 5, "evidence carries the 5 sign-in ids")
        check(re.match(r"^a-\d+$", doc["id"]) is not None, "alert id is short and stable (%s)" % doc["id"])
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc["first_seen"]) is not None, "ISO times")
        check("Set-CASMailbox -Identity 'scanner2@contoso.com'" in (doc.get("remediation") or ""),
              "remediation names the mailbox")
        check(h["headers"].get("idempotency-key") == doc["id"] + "-1", "Idempotency-Key is id-transition")
        check(h["headers"].get("content-type", "").startswith("application/json"), "JSON content type")

    frames = wait_for(lambda: env.syslog.drain(), timeout=15, what="syslog frame")
    check(len(frames) == 1, "syslog received one frame (%d)" % len(frames))
    if frames:
        f = frames[0]
        # authpriv (10) * 8 + err (3) = 83; on a unix socket (format = auto)
        # the syslog(3) form: "<PRI>Mmm dd hh:mm:ss smtpwatch[PID]: MSG key=value..."
        check(re.match(r"^<83>[A-Z][a-z][a-z] [ 0-9]\d \d\d:\d\d:\d\d smtpwatch\[%d\]: \[firing\] "
                       % env.daemon.pid, f) is not None, "syslog(3) header with PRI 83 and the daemon's pid (%s)" % f[:60])
        check(" rule=%s " % RULE in f, "the key fields carry the rule")
        check("scanner2@contoso.com" in f, "the frame names the mailbox")

    rc, alerts = env.ctl("alerts")
    check(rc == 0 and len(alerts.get("alerts", [])) == 1, "smtpwatchctl --json alerts lists one alert")
    rc, table = env.ctl("alerts", json_out=False)
    check(rc == 0 and "scanner2@contoso.com" in table and RULE in table, "the alerts table shows it")
    rc, table = env.ctl("status", json_out=False)
    check(rc == 0 and "signins" in table and "contoso" in table, "the status table shows the source")
    check("sim-secret-contoso" not in table, "status never shows the secret")

    # A second poll of the same data raises nothing and stores nothing.
    before = src["last_success"]
    rc, _ = env.ctl("poll")
    check(rc == 0, "smtpwatchctl poll is accepted")
    src2 = wait_for(lambda: (env.source() or {}).get("last_success") != before and env.source(), timeout=30,
                    what="second run")
    if not src2:  # same second: wait for the run to stop running instead
        src2 = wait_for(lambda: env.source()["state"] == "ok" and env.source(), timeout=30)
    time.sleep(1.5)
    check(src2 and src2["records"] == 14, "a rerun stores no duplicate (%s)" % (src2 or {}).get("records"))
    check(len(env.sim.hooks("soc")) == 1, "a rerun sends no new alert")


def test_throttle(env):
    """A 429 burst delays but does not lose records."""
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-5m", "user": "scanner3@contoso.com", "ip": "198.51.100.8", "country": "NL",
         "error_code": 0, "count": 6, "every": "30s"}])
    env.sim.faults([{"endpoint": "signins", "status": 429, "retry_after": 1, "count": 3}])
    rc, _ = env.ctl("poll")
    src = wait_for(lambda: (env.source() or {}).get("records") == 20 and env.source()["state"] == "ok"
                   and env.source(), timeout=60, what="records after 429 burst")
    check(bool(src), "after a 429 burst all 6 new records are stored (%s)" % (env.source() or {}).get("records"))
    check(src and src["throttled"] >= 3, "the throttling is counted (%s)" % (src or {}).get("throttled"))
    check(src and src["last_retry_after"] == 1, "the last Retry-After is shown")
    hooks = wait_for(lambda: len(env.sim.hooks("soc")) >= 2 and env.sim.hooks("soc"), timeout=30)
    check(hooks and len([h for h in hooks if "scanner3@contoso.com" in h["body"]]) == 1,
          "the new sender raises its own alert")


def test_bad_input(env):
    """Malformed JSON fails the run with a clear line; nothing is lost; the next run recovers."""
    env.sim.faults([{"endpoint": "signins", "bad_json": True, "count": -1}])
    before = env.source()
    env.ctl("poll")
    src = wait_for(lambda: (env.source() or {}).get("state") == "failing" and env.source(), timeout=60,
                   what="failing state")
    check(bool(src), "malformed pages make the source fail")
    log = env.log_text()
    line = [l for l in log.splitlines() if "malformed page" in l]
    check(bool(line), "the log names the malformed page")
    if line:
        check("tenant contoso" in line[-1] and "signins" in line[-1] and "/v1.0/auditLogs/signIns" in line[-1],
              "the line names tenant, source and URL path (%s)" % line[-1])
    check("sim-secret-contoso" not in log and "Bearer" not in log, "the log holds no secret or token")
    check(src and src["records"] == before["records"], "nothing stored was lost")
    env.sim.clear_faults()
    env.ctl("poll")
    src = wait_for(lambda: (env.source() or {}).get("state") == "ok" and env.source(), timeout=60,
                   what="recovery")
    check(bool(src), "the next run recovers")


def test_sigterm(env):
    d = env.daemon
    d.send_signal(signal.SIGTERM)
    try:
        rc = d.wait(15)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    check(rc == 0, "SIGTERM stops the daemon cleanly (%s)" % rc)
    check(not os.path.exists(env.socket), "the control socket is removed")


def test_once():
    env = Env("once")
    try:
        rc = env.run_once()
        check(rc == 0, "--once exits 0 when every source succeeded (%s)" % rc)
        hooks = env.sim.hooks("soc")
        check(len(hooks) == 1, "--once delivered the alert (%d)" % len(hooks))
        rc = env.run_once()
        check(rc == 0 and len(env.sim.hooks("soc")) == 1, "a second --once sends nothing new")
        env.sim.faults([{"endpoint": "token", "status": 401, "count": -1}])
        rc = env.run_once()
        check(rc == 2, "--once exits 2 when a source failed (%s)" % rc)
    finally:
        env.close()


def main():
    env = Env("foundation")
    from harness import SyslogSink
    env.syslog = SyslogSink(env.syslog_path)
    try:
        test_check_config(env)
        test_cycle(env)
        test_throttle(env)
        test_bad_input(env)
        test_sigterm(env)
    finally:
        env.syslog.close()
        env.close()
    test_once()
    finish()


if __name__ == "__main__":
    main()
