"""Alert document version 2 (SPEC "Alert document, version 2"), read where
a user reads it: the bodies the simulator's webhook receiver got, the HEC
events, and smtpwatchctl --json.  A state rule fires (a mailbox with its
own SmtpClientAuthenticationDisabled false, not in the register) and then
resolves (the simulator's clock moves on and the override goes back to
null): schema, tenant_id, severity_id, transition and transition_at,
resolved_at null then set, typed entities, and every first-version member
still there with its meaning.  The webhook's two signatures, checked as a
receiver would, with the 5-minute replay window."""

import hashlib
import hmac
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import TENANT_ID, Env, check, finish, wait_for  # noqa: E402

RULE = "unapproved-mailbox-exception"
PRINTER = "printer@contoso.com"
HEC_TOKEN = "11111111-2222-3333-4444-555555555555"
HMAC_KEY = b"k3y-for-the-soc-webhook\x01binary"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# The first version's members and their JSON types (SPEC "Alert document").
V1 = {"id": str, "rule": str, "severity": str, "tenant": str, "subject": str, "status": str,
      "first_seen": str, "last_seen": str, "count": int, "summary": str, "evidence": dict,
      "remediation": (str, type(None))}
SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


REGISTER = f"""[exception scanner-hq@contoso.com]
owner = facilities@contoso.com
justification = Ricoh MFP scan-to-mail
ticket = CHG-1
expires = {day(60)}
"""


def hec_events(body):
    """The event objects of one HEC request body (HEC takes several,
    concatenated)."""
    dec, out, i = json.JSONDecoder(), [], 0
    while i < len(body):
        while i < len(body) and body[i].isspace():
            i += 1
        if i == len(body):
            break
        obj, i = dec.raw_decode(body, i)
        out.append(obj)
    return out


def secret_file(env, name, content):
    path = os.path.join(env.dir, name)
    with open(path, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)
    os.chmod(path, 0o600)
    return path


def webhook_docs(env, subject=None):
    out = []
    for h in env.sim.hooks("soc"):
        d = json.loads(h["body"])
        if subject is None or d.get("subject") == subject:
            out.append((h, d))
    return out


def rfc3339_epoch(s):
    return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def verify(key, headers, body, now=None, window=300):
    """A receiver's check of the version 2 signature, as smtpwatch.conf(5)
    shows it: the timestamp within 5 minutes, the HMAC over TIMESTAMP "." BODY."""
    ts = headers.get("x-smtpwatch-timestamp", "")
    sig = headers.get("x-smtpwatch-signature-v2", "")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > window:
        return False
    want = "v1=" + hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


def check_signatures(h):
    """Both signatures of one webhook request, and what they refuse."""
    body = h["body"].encode("utf-8")
    hd = h["headers"]
    v1 = "sha256=" + hmac.new(HMAC_KEY, body, hashlib.sha256).hexdigest()
    check(hd.get("x-smtpwatch-signature") == v1, "signature: the first-version X-Smtpwatch-Signature stays")
    ts = hd.get("x-smtpwatch-timestamp", "")
    received = rfc3339_epoch(h["received_at"][:19] + "Z")
    check(ts.isdigit() and abs(int(ts) - received) <= 5,
          "signature: X-Smtpwatch-Timestamp is the time of sending (%s, received %d)" % (ts, received))
    check(re.match(r"^v1=[0-9a-f]{64}$", hd.get("x-smtpwatch-signature-v2", "")) is not None,
          "signature: X-Smtpwatch-Signature-V2: v1=HEX")
    check(verify(HMAC_KEY, hd, body, now=int(ts) if ts.isdigit() else None),
          "signature: V2 verifies as HMAC-SHA256(key, TIMESTAMP.BODY)")
    check(not verify(HMAC_KEY, hd, body.replace(b"printer", b"pr1nter"), now=int(ts) if ts.isdigit() else None),
          "signature: an edited body is refused")
    check(not verify(HMAC_KEY, hd, body, now=int(ts) + 301 if ts.isdigit() else None),
          "signature: the same request replayed after 5 minutes is refused")
    fresh = dict(hd, **{"x-smtpwatch-timestamp": str(int(ts) + 400 if ts.isdigit() else 0)})
    check(not verify(HMAC_KEY, fresh, body, now=int(ts) + 400 if ts.isdigit() else None),
          "signature: a replay with a new timestamp does not verify")
    check(not verify(b"another key", hd, body, now=int(ts) if ts.isdigit() else None),
          "signature: another key does not verify")


def check_v2(d, what):
    """The members every version 2 document has, with their types."""
    for k, t in V1.items():
        check(isinstance(d.get(k), t), "%s: first-version member %s is there (%r)" % (what, k, d.get(k)))
    check(d.get("schema") == "smtpwatch.alert/2", "%s: schema smtpwatch.alert/2" % what)
    check(d.get("tenant") == "contoso" and d.get("tenant_id") == TENANT_ID,
          "%s: tenant is the section, tenant_id the configured Entra tenant (%s)" % (what, d.get("tenant_id")))
    check(d.get("severity_id") == SEVERITY_ID.get(d.get("severity")),
          "%s: severity_id %s is OCSF's number for %s" % (what, d.get("severity_id"), d.get("severity")))
    check(isinstance(d.get("transition"), int) and d["transition"] >= 1, "%s: transition counts the sends" % what)
    check(isinstance(d.get("transition_at"), str) and RFC3339.match(d["transition_at"]) is not None,
          "%s: transition_at is RFC 3339 UTC (%s)" % (what, d.get("transition_at")))
    e = d.get("entities")
    check(isinstance(e, dict) and set(e) == {"mailbox", "ip", "users", "ips", "countries"}
          and all(isinstance(e[k], list) for k in ("users", "ips", "countries")),
          "%s: entities has mailbox, ip, users, ips, countries (%s)" % (what, e))
    check("changed_by" not in d, "%s: no changed_by without an audit record" % what)


def main():
    env = Env("alert-v2", scenario="exchange.json", register=REGISTER, sinks="")
    tok = secret_file(env, "hec.token", HEC_TOKEN + "\n")
    key = secret_file(env, "soc.key", HMAC_KEY)
    with open(env.conf, "a") as f:
        f.write("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nmin_severity = info\nhmac_key_file = %s\n\n"
                "[sink hec]\ntype = splunk-hec\nurl = %s/hooks/hec\ntoken_file = %s\nrules = %s\n"
                % (env.sim.url, key, env.sim.url, tok, RULE))
    try:
        started = time.time()
        env.start_daemon()
        got = wait_for(lambda: webhook_docs(env, PRINTER), timeout=60, what="the printer's alert")
        check(len(got) == 1, "the webhook got the printer's alert once (%d)" % len(got))
        if not got:
            print(env.log_text())
            return
        h, d = got[0]
        check_v2(d, "firing")
        check(d["rule"] == RULE and d["status"] == "firing" and d["transition"] == 1,
              "firing: the rule, status firing, transition 1")
        check("resolved_at" in d and d["resolved_at"] is None, "firing: resolved_at is null while firing")
        check(started - 5 <= rfc3339_epoch(d["transition_at"]) <= time.time() + 5,
              "firing: transition_at is when it was decided (%s)" % d["transition_at"])
        check(d["entities"]["mailbox"] == PRINTER and d["entities"]["ip"] is None
              and d["entities"]["users"] == [PRINTER],
              "firing: entities name the mailbox, not an IP (%s)" % d["entities"])
        check(h["headers"].get("idempotency-key") == "%s-1" % d["id"], "firing: Idempotency-Key id-1")
        check_signatures(h)
        # Every document of the run is version 2, whatever the rule.
        others = [x for _, x in webhook_docs(env)]
        check(all(x.get("schema") == "smtpwatch.alert/2" and x.get("tenant_id") == TENANT_ID for x in others),
              "every webhook body is version 2 (%d)" % len(others))

        hec = wait_for(lambda: [e["event"] for x in env.sim.hooks("hec") for e in hec_events(x["body"])
                                if e["event"]["id"] == d["id"]], timeout=30, what="the HEC event")
        ev = hec[0] if hec else {}
        check(ev == d, "HEC: the event is the same document (%s)"
              % {k: (ev.get(k), d.get(k)) for k in set(d) | set(ev) if ev.get(k) != d.get(k)})

        # smtpwatchctl: the list (dumped from stored text) and one alert
        # (built as a tree) agree with what the webhook got.
        # last_seen moves on with every detection pass that still sees the
        # condition, without a new transition (under valgrind a pass can
        # come between the send and these reads): it may only grow.
        def same(x):
            return ({k: x.get(k) for k in d if k != "last_seen"} == {k: v for k, v in d.items() if k != "last_seen"}
                    and rfc3339_epoch(x.get("last_seen") or d["last_seen"]) >= rfc3339_epoch(d["last_seen"]))

        rc, one = env.ctl("alert", d["id"])
        check(rc == 0 and same(one),
              "smtpwatchctl --json alert ID shows the same document (%s)"
              % ({k: (one.get(k), d[k]) for k in d if one.get(k) != d[k]} if rc == 0 else one))
        rc, lst = env.ctl("alerts")
        rows = [a for a in (lst if isinstance(lst, list) else lst.get("alerts", [])) if a.get("id") == d["id"]] \
            if rc == 0 else []
        check(len(rows) == 1 and same(rows[0]),
              "smtpwatchctl --json alerts lists the same document (%s)" % (rows[0] if rows else lst))

        # +31m in the simulator: the printer's override goes back to null,
        # which resolves the alert.
        env.sim.request("POST", "/_sim/clock", {"advance": "31m"})
        before = env.source("exchange")["last_success"]
        env.ctl("poll")
        wait_for(lambda: (env.source("exchange") or {}).get("last_success") != before, timeout=60,
                 what="the next exchange run")
        res = wait_for(lambda: [x for _, x in webhook_docs(env, PRINTER) if x["status"] == "resolved"],
                       timeout=30, what="the resolution")
        check(len(res) == 1, "the webhook got the resolution once (%d)" % len(res))
        if res:
            r = res[0]
            check_v2(r, "resolved")
            check(r["id"] == d["id"] and r["transition"] == 2, "resolved: same alert, transition 2")
            check(isinstance(r.get("resolved_at"), str) and RFC3339.match(r["resolved_at"]) is not None,
                  "resolved: resolved_at is set (%s)" % r.get("resolved_at"))
            check(rfc3339_epoch(r["transition_at"]) >= rfc3339_epoch(d["transition_at"]),
                  "resolved: transition_at moved on (%s -> %s)" % (d["transition_at"], r["transition_at"]))
            check(r["first_seen"] == d["first_seen"] and r["rule"] == d["rule"] and r["subject"] == d["subject"],
                  "resolved: first-version members keep their meaning")
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
