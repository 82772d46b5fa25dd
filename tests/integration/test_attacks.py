"""Attack rules end to end: a simulated tenant with one password spray, one
brute force, one exception used from a new country, and normal printer
traffic; then ack and silence through smtpwatchctl, across a restart."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

SPRAY = "smtp-auth-password-spray"
BRUTE = "smtp-auth-brute-force"
DRIFT = "exception-source-drift"
TENANT_ID = "contoso.onmicrosoft.com"
SPRAY_IP = "45.155.205.10"
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]


def register():
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 40 * 86400))
    return ("[exception scanner-hq@contoso.com]\nowner = facilities@contoso.com\n"
            "justification = Ricoh MFP scan-to-mail\nticket = CHG-10422\nexpires = %s\n"
            "allowed_ips = 203.0.113.0/28, 2001:db8:10::/48\n\n"
            "[exception printer-2f@contoso.com]\nowner = facilities@contoso.com\n"
            "justification = HP printer scan-to-mail\nticket = CHG-10423\nexpires = %s\n"
            "allowed_ips = 203.0.113.0/28\n" % (expires, expires))


def docs(env):
    """Every alert document the webhook received, in order."""
    return [json.loads(h["body"]) for h in env.sim.hooks("soc")]


def by_rule(ds, rule):
    return [d for d in ds if d["rule"] == rule]


def poll_and_settle(env, records):
    """Poll, wait until the sign-ins source stored `records` and is idle,
    then give delivery a moment."""
    env.ctl("poll")
    src = wait_for(lambda: (env.source() or {}).get("records") == records and env.source()["state"] == "ok"
                   and env.source(), timeout=60, what="%d records" % records)
    time.sleep(2)
    return src


def test_detection(env):
    env.start_daemon()
    hooks = wait_for(lambda: len(env.sim.hooks("soc")) >= 3 and env.sim.hooks("soc"), timeout=60,
                     what="three alerts at the webhook")
    time.sleep(2)  # anything else that would come
    ds = docs(env)
    check(len(ds) == 3, "the webhook received exactly three alerts (%s)" % [(d["rule"], d["subject"]) for d in ds])

    spray = by_rule(ds, SPRAY)
    check(len(spray) == 1, "one password-spray alert")
    if spray:
        d = spray[0]
        check(d["subject"] == SPRAY_IP and d["severity"] == "high", "the spray is keyed by the source IP, high")
        check(d["count"] == 42, "40 + 2 failures from the IP, duplicates counted once (%s)" % d["count"])
        ev = d["evidence"]
        check(sorted(ev.get("users", [])) == sorted(u + "@contoso.com" for u in USERS),
              "the evidence lists the 12 users tried")
        check(ev.get("countries") == ["RU"], "the evidence carries the country")
        codes = {c["code"]: c["meaning"] for c in ev.get("error_codes", [])}
        check(codes.get(50126) == "wrong password" and "locked" in codes.get(50053, ""),
              "error codes come with their meaning (%s)" % codes)
        check("12 users" in d["summary"] and SPRAY_IP in d["summary"], "the summary says it (%s)" % d["summary"])
        check(d["first_seen"] < d["last_seen"], "first and last time")

    brute = by_rule(ds, BRUTE)
    check(len(brute) == 1 and brute[0]["subject"] == "ceo@contoso.com" and brute[0]["count"] == 15
          and brute[0]["severity"] == "medium",
          "one brute-force alert for ceo, 15 failures, medium (%s)" % [(d["subject"], d["count"]) for d in brute])
    if brute:
        check(len(brute[0]["evidence"]["ips"]) == 5, "from 5 IPs")

    drift = by_rule(ds, DRIFT)
    check(len(drift) == 1 and drift[0]["subject"] == "scanner-hq@contoso.com" and drift[0]["count"] == 3,
          "one drift alert for the scanner used from Brazil (%s)" % [(d["subject"], d["count"]) for d in drift])
    if drift:
        ev = drift[0]["evidence"]
        check(ev.get("countries") == ["BR"] and "US" in ev.get("known_countries", []),
              "drift names the new country and the known ones")
        check(ev.get("ips") == ["198.51.100.23"] and "203.0.113.0/28" in ev.get("allowed_ips", []),
              "drift names the IP and the allowed range")

    check(not [d for d in ds if "printer-2f" in json.dumps(d)], "normal printer traffic raises nothing")
    check(not [d for d in ds if d["subject"] == "alice@contoso.com"], "a user's three typos raise nothing")

    rc, st = env.ctl("status")
    top = st["tenants"]["contoso"].get("top_failures") if rc == 0 else None
    check(bool(top) and top[0]["ip"] == SPRAY_IP and top[0]["failures"] == 42 and top[0]["country"] == "RU",
          "status shows the spraying IP first among failed SMTP AUTH sources (%s)" % (top or [])[:2])
    check(bool(top) and not [t for t in top if t["ip"].startswith("203.0.113.")],
          "failures of registered mailboxes stay out of the top sources")


def test_ack(env):
    rc, alerts = env.ctl("alerts")
    spray = [a for a in alerts.get("alerts", []) if a["rule"] == SPRAY]
    if not check(rc == 0 and len(spray) == 1, "the spray alert is listed"):
        return None
    aid = spray[0]["id"]
    rc, out = env.ctl("ack", aid, "--note", "red team exercise CHG-7", json_out=False)
    check(rc == 0 and "acknowledged" in out and aid in out, "smtpwatchctl ack %s (%r)" % (aid, out.strip()))
    rc, doc = env.ctl("alert", aid)
    check(rc == 0 and doc["acked"] is True and doc.get("ack_note") == "red team exercise CHG-7",
          "the alert shows the ack and its note")
    rc, table = env.ctl("alerts", json_out=False)
    check("(acked)" in table, "the alerts table marks it acked")

    # The IP sprays again: 40 more failures take the count past 64,
    # which would be sent again, but it is acked.
    before = len(env.sim.hooks("soc"))
    env.sim.add_signins(TENANT_ID, [{"at": "-8m", "every": "10s", "count": 40,
                                     "user": [u + "@contoso.com" for u in USERS], "ip": SPRAY_IP,
                                     "country": "RU", "error_code": 50126}])
    records = env.source()["records"]
    poll_and_settle(env, records + 40)
    rc, doc = env.ctl("alert", aid)
    check(rc == 0 and doc["count"] == 82, "the acked alert keeps counting (%s)" % doc.get("count"))
    check(len(env.sim.hooks("soc")) == before, "an acked alert is not sent again when it grows")

    rc, out = env.ctl("ack", "a-999999", json_out=False)
    check(rc == 1 and "no alert" in out, "ack of an unknown id is an error (%d)" % rc)
    return aid


def test_silence(env):
    rc, out = env.ctl("silence", BRUTE, "ceo@contoso.com", "--for", "2h", "--note", "known, password reset done",
                      json_out=False)
    check(rc == 0 and "silenced" in out, "smtpwatchctl silence RULE SUBJECT --for 2h (%r)" % out.strip())
    rc, out = env.ctl("silence", "no-such-rule", "x", "--for", "2h", json_out=False)
    check(rc == 1 and "unknown rule" in out, "an unknown rule is refused (%d)" % rc)
    rc, out = env.ctl("silence", BRUTE, "ceo@contoso.com", json_out=False)
    check(rc == 2, "--for is required (%d)" % rc)

    # The silence itself reaches the webhook (silence-changed): wait for it
    # before counting.
    wait_for(lambda: any('"silence-changed"' in h["body"] for h in env.sim.hooks("soc")), timeout=30,
             what="the silence-changed alert")
    # 10 more failures for ceo: 25 > 16 would be sent; silenced, it is not.
    before = len(env.sim.hooks("soc"))
    env.sim.add_signins(TENANT_ID, [{"at": "-6m", "every": "20s", "count": 10, "user": "ceo@contoso.com",
                                     "ip": "185.220.101.4", "country": "DE", "error_code": 50126}])
    records = env.source()["records"]
    poll_and_settle(env, records + 10)
    check(len(env.sim.hooks("soc")) == before, "a silenced alert is not sent")

    rc, data = env.ctl("silence")
    sil = data.get("silences", []) if rc == 0 else []
    check(len(sil) == 1 and sil[0]["rule"] == BRUTE and sil[0]["subject"] == "ceo@contoso.com"
          and sil[0].get("note") == "known, password reset done", "smtpwatchctl silence lists it")
    covered = sil[0]["alerts"] if sil else []
    check(len(covered) == 1 and covered[0]["silenced"] is True and covered[0]["count"] == 25,
          "the silenced alert is stored, counted and shown as silenced (%s)"
          % [(a.get("subject"), a.get("count"), a.get("silenced")) for a in covered])
    rc, table = env.ctl("silence", json_out=False)
    check(rc == 0 and "ceo@contoso.com" in table and "silenced alerts" in table, "the silence table shows both")


def test_restart(env, aid):
    rc = env.stop_daemon()
    check(rc == 0, "the daemon stops cleanly (%s)" % rc)
    env.start_daemon()
    wait_for(lambda: env.status(), timeout=30, what="status after restart")
    rc, data = env.ctl("silence")
    check(rc == 0 and len(data.get("silences", [])) == 1, "the silence survives a restart")
    if aid:
        rc, doc = env.ctl("alert", aid)
        check(rc == 0 and doc["acked"] is True, "the ack survives a restart")


def main():
    env = Env("attacks", scenario="attacks.json", register=register())
    try:
        test_detection(env)
        aid = test_ack(env)
        test_silence(env)
        test_restart(env, aid)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
