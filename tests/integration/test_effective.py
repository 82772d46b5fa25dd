"""Can Basic SMTP AUTH actually succeed? The effective state through every
layer, end to end against the simulator: conditional access (the
cisagov/ScubaGear#915 case: a per-mailbox override on, and a CA policy
blocking legacy authentication for all users wins), a member of an
excluded group (nested), an authentication policy that blocks Basic but
not OAuth, a report-only policy (a near miss, legacy-auth-not-blocked
fires), security defaults (blocked, the rule resolves), and a missing
Policy.Read.All (403: unknown, source-unhealthy names the permission)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SCALE, Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"
CA = "Block legacy authentication"


def runs_done(env, sources=("exchange", "policies"), before=None):
    """Wait until each source finished a run after before (its runs count)."""
    def done():
        s = env.status()
        if not s:
            return False
        src = s["tenants"]["contoso"]["sources"]
        return all(src[n]["state"] != "running" and src[n]["runs"] > (before or {}).get(n, 0)
                   for n in sources) and src
    return wait_for(done, timeout=60, what="runs of %s" % ", ".join(sources))


def runs(env):
    src = env.status()["tenants"]["contoso"]["sources"]
    return {n: src[n]["runs"] for n in src if isinstance(src[n], dict) and "runs" in src[n]}


def poll(env):
    before = runs(env)
    env.ctl("poll")
    return runs_done(env, before=before)


def mailbox(env, address):
    rc, mb = env.ctl("mailbox", address)
    return mb["tenants"][0] if rc == 0 else {}


def docs(env):
    return [json.loads(h["body"]) for h in env.sim.hooks("soc")]


def alerts(env, rule):
    return [d for d in docs(env) if d["rule"] == rule]


def stored(env, rule):
    rc, out = env.ctl("alerts", "--all")
    return [a for a in out.get("alerts", []) if a["rule"] == rule] if rc == 0 else []


def layered(env):
    env.start_daemon()
    check(bool(runs_done(env)), "the Exchange and policies sources complete their first runs")
    src = env.source("policies")
    check(src and src["state"] == "ok", "the policies source is ok (%s)" % (src or {}).get("last_error"))
    rc, text = env.ctl("metrics", json_out=False)
    check(rc == 0 and 'smtpwatch_source_up{tenant="contoso",source="policies"} 1' in text,
          "the metrics show the policies source up")

    # cisagov/ScubaGear#915: the override is on, the CA block wins.
    s2 = mailbox(env, "scanner2@contoso.com")
    check(s2.get("switch") == "false" and s2.get("effective") == "on",
          "scanner2's own override turns SMTP AUTH on as far as the switches go (%s)" % s2.get("reason"))
    check(s2.get("basic_smtp") == "blocked", "but Basic SMTP AUTH is blocked (%s)" % s2.get("basic_smtp"))
    dec = s2.get("decided_by", [])
    check(any(("conditional access %s: blocks" % CA) in d for d in dec),
          "decided_by names the CA policy that blocks it (%s)" % dec)
    check(dec[:2] == ["tenant switch: off (overridden)", "mailbox override: on"],
          "and lists the switches first, in order (%s)" % dec[:2])
    check(CA in (s2.get("blocked_by") or ""), "blocked_by says which layer (%s)" % s2.get("blocked_by"))
    check(any(d.startswith("conditional access Microsoft-managed: %s (Microsoft-managed): report-only" % CA)
              for d in dec), "the Microsoft-managed policy is named as such, report-only, blocking nothing")
    check(s2.get("conditional_access_evaluated_by") == "what-if" and any("(What If)" in d for d in dec),
          "Microsoft's What If evaluated it: scanner2's override is on (%s)" % s2.get("conditional_access_evaluated_by"))

    # printer is in the excluded group: nothing blocks it.
    pr = mailbox(env, "printer@contoso.com")
    check(pr.get("basic_smtp") == "allowed", "printer, in the excluded group, can use Basic (%s)" % pr.get("decided_by"))
    check(any("does not apply (What If: users)" in d for d in pr.get("decided_by", [])),
          "decided_by says the policy does not apply to its user, as What If answers")

    # relay: excluded through a nested group; its own authentication policy blocks Basic.
    rl = mailbox(env, "relay@contoso.com")
    check(rl.get("basic_smtp") == "blocked" and rl.get("oauth_smtp") == "allowed",
          "relay's authentication policy blocks Basic and leaves OAuth (%s/%s)" % (rl.get("basic_smtp"),
                                                                                 rl.get("oauth_smtp")))
    check(any("authentication policy Block Basic SMTP (assigned to the user): Basic SMTP blocked" in d
              for d in rl.get("decided_by", [])), "decided_by names the policy (%s)" % rl.get("decided_by"))
    check(any("does not apply (What If: users)" in d for d in rl.get("decided_by", [])),
          "and the CA policy does not apply to it, excluded through the nested group")

    # fax follows the tenant switch: no What If for it, the local evaluator
    # reads the nested group's members.
    fx = mailbox(env, "fax@contoso.com")
    check(fx.get("conditional_access_evaluated_by") == "smtpwatch" and
          any("does not apply (excludes the user by group 5d1f2a7e" in d for d in fx.get("decided_by", [])),
          "fax, in the nested group, is excluded by the local evaluation (%s)" % fx.get("decided_by"))
    check(fx.get("basic_smtp") == "blocked" and "tenant switch: off" in (fx.get("blocked_by") or ""),
          "and the tenant switch blocks it (%s)" % fx.get("blocked_by"))

    # The exceptions view carries the verdicts too.
    rc, ex = env.ctl("exceptions")
    rows = {r["mailbox"]: r for r in ex["exceptions"]} if rc == 0 else {}
    check(rows.get("scanner2@contoso.com", {}).get("basic_smtp") == "blocked"
          and rows.get("printer@contoso.com", {}).get("basic_smtp") == "allowed",
          "exceptions --json carries basic_smtp per mailbox")
    rc, text = env.ctl("exceptions", json_out=False)
    check(rc == 0 and "conditional access %s: blocks" % CA in text and "BASIC" in text,
          "the text table shows the verdict and its layers")
    rc, text = env.ctl("mailbox", "scanner2@contoso.com", json_out=False)
    check(rc == 0 and "Basic SMTP AUTH" in text and "blocked" in text and "Decided by:" in text,
          "smtpwatchctl mailbox shows the verdict and its layers")

    # The report counts the mailboxes on which Basic can really succeed.
    rc, rep = env.ctl("report", "--format", "json")
    bs = rep["tenants"][0].get("basic_smtp", {}) if rc == 0 else {}
    check(bs.get("switched_on") == 3 and bs.get("can_succeed") == 1 and bs.get("blocked") == 2
          and bs.get("can_succeed_mailboxes") == ["printer@contoso.com"],
          "smtpwatchctl report: Basic can succeed on 1 of the 3 mailboxes the switches allow (%s)" % bs)
    rc, text = env.ctl("report", json_out=False)
    check(rc == 0 and "can succeed on 1 of 3 mailboxes the switches allow (2 blocked" in text,
          "and says so in its text (%s)" % [ln for ln in text.splitlines() if "every layer" in ln])

    # The drift rule still fires on the switch and says Basic cannot succeed.
    drift = wait_for(lambda: [d for d in alerts(env, "unapproved-mailbox-exception")
                              if d["subject"] == "scanner2@contoso.com"], timeout=30, what="drift alert")
    check(bool(drift) and "Basic SMTP AUTH cannot succeed" in drift[0]["summary"] and CA in drift[0]["summary"],
          "unapproved-mailbox-exception still fires for scanner2, and says what blocks Basic (%s)"
          % (drift[0]["summary"] if drift else None))
    pdrift = [d for d in alerts(env, "unapproved-mailbox-exception") if d["subject"] == "printer@contoso.com"]
    check(bool(pdrift) and "Basic SMTP AUTH can succeed" in pdrift[0]["summary"],
          "for printer it says Basic can succeed (%s)" % (pdrift[0]["summary"] if pdrift else None))

    # The exclusion is a near miss: legacy authentication is not blocked tenant-wide.
    la = wait_for(lambda: alerts(env, "legacy-auth-not-blocked"), timeout=30, what="legacy-auth-not-blocked")
    check(bool(la) and la[0]["severity"] == "medium" and CA in la[0]["summary"] and "exclude" in la[0]["summary"],
          "legacy-auth-not-blocked fires (medium), naming the policy and its exclusion (%s)"
          % (la[0]["summary"] if la else None))

    # Report-only: it blocks nothing and is named as such.
    env.sim.request("POST", "/_sim/tenants/%s/changes" % TENANT,
                    {"changes": [{"conditional_access_policy": CA,
                                  "set": {"state": "enabledForReportingButNotEnforced"}}]})
    check(bool(poll(env)), "the next runs complete")
    s2 = mailbox(env, "scanner2@contoso.com")
    check(s2.get("basic_smtp") == "allowed", "report-only: scanner2's Basic can succeed now (%s)" % s2.get("basic_smtp"))
    check(any("report-only" in d and "blocks nothing" in d for d in s2.get("decided_by", [])),
          "decided_by names the policy as report-only (%s)" % s2.get("decided_by"))
    upd = wait_for(lambda: [a for a in stored(env, "legacy-auth-not-blocked")
                            if a["status"] == "firing" and ("near misses: %s (report-only)" % CA) in a["summary"]],
                   timeout=30, what="updated legacy-auth-not-blocked")
    check(bool(upd), "the firing legacy-auth-not-blocked now names the report-only policy as a near miss (%s)"
          % [a["summary"] for a in stored(env, "legacy-auth-not-blocked")])
    rc, ex = env.ctl("exceptions")
    tv = ex["tenants"]["contoso"] if rc == 0 else {}
    check(tv.get("legacy_auth_blocked") == "no" and CA + " (report-only)" in tv.get("legacy_auth_near_misses", []),
          "exceptions --json says legacy authentication is not blocked, with the near miss (%s)" % tv)

    # Security defaults on: legacy authentication is blocked outright.
    env.sim.request("POST", "/_sim/tenants/%s/changes" % TENANT, {"changes": [{"security_defaults": True}]})
    check(bool(poll(env)), "the next runs complete")
    s2 = mailbox(env, "scanner2@contoso.com")
    check(s2.get("basic_smtp") == "blocked" and "security defaults: on (legacy authentication blocked)"
          in s2.get("decided_by", []), "security defaults on: blocked (%s)" % s2.get("decided_by"))
    pr = mailbox(env, "printer@contoso.com")
    check(pr.get("basic_smtp") == "blocked", "for the excluded printer too (%s)" % pr.get("basic_smtp"))
    res = wait_for(lambda: [d for d in alerts(env, "legacy-auth-not-blocked") if d["status"] == "resolved"],
                   timeout=30, what="legacy-auth-not-blocked resolved")
    check(bool(res), "legacy-auth-not-blocked resolves once security defaults block legacy authentication")


def restart(env):
    """A restart finds the Exchange snapshot stored: What If is asked for
    its mailboxes by the first policies run, which is not repeated once the
    new snapshot is in (the first start of all reads the policies twice)."""
    was = {a: mailbox(env, a).get("basic_smtp") for a in ("scanner2@contoso.com", "printer@contoso.com")}
    env.stop_daemon()
    before = env.sim.stats()["requests"]["policies"]
    env.start_daemon()
    check(bool(runs_done(env)), "after a restart both sources complete a run")
    time.sleep(2 * SCALE)  # a second read would start as the snapshot lands
    r = runs(env)
    after = env.sim.stats()["requests"]["policies"]
    check(r.get("policies") == 1, "the policies are read once after a restart, not again for What If (%s)" % r)
    check(after > before, "and that read reached Graph (%d requests)" % (after - before))
    now = {a: mailbox(env, a).get("basic_smtp") for a in was}
    check(now == was, "and the verdicts are those from before the restart (%s, before %s)" % (now, was))


def denied(env):
    env.start_daemon()
    def finished_run():
        # A run may be under way when status is read: wait for one that ended.
        s = env.source("policies") or {}
        return s if s.get("runs", 0) > 0 and s.get("state") != "running" else None

    src = wait_for(finished_run, timeout=60, what="a finished policies run")
    runs_done(env, sources=("exchange",))
    check(bool(src) and src["state"] == "failing" and src["denied"],
          "without Policy.Read.All the policies source is refused (%s)" % (src or {}).get("state"))
    check("Policy.Read.All" in (src or {}).get("last_error", ""),
          "its error names the permission (%s)" % (src or {}).get("last_error"))
    s2 = mailbox(env, "scanner2@contoso.com")
    check(s2.get("basic_smtp") == "unknown", "scanner2's Basic is unknown, not guessed (%s)" % s2.get("basic_smtp"))
    check(any("conditional access: unknown" in d and "Policy.Read.All" in d for d in s2.get("decided_by", [])),
          "decided_by says conditional access is unknown and why (%s)" % s2.get("decided_by"))
    rl = mailbox(env, "relay@contoso.com")
    check(rl.get("basic_smtp") == "blocked", "the layers that were read still decide: relay's policy blocks Basic (%s)"
          % rl.get("basic_smtp"))
    un = wait_for(lambda: [d for d in docs(env) if d["rule"] == "source-unhealthy" and d["subject"] == "policies"],
                  timeout=60, what="source-unhealthy")
    check(bool(un) and "Policy.Read.All" in un[0]["summary"],
          "source-unhealthy fires for the policies source and names Policy.Read.All (%s)"
          % (un[0]["summary"] if un else None))
    check(not alerts(env, "legacy-auth-not-blocked"), "legacy-auth-not-blocked does not guess either way")
    rc, doc = env.ctl("report", "--format", "json")
    lab = {c["id"]: c for c in ((doc.get("tenants") or [{}])[0].get("verdict", {}).get("checks", [])
                                if rc == 0 else [])}.get("legacy-auth-blocked", {})
    check(lab.get("status") == "not-evaluated" and "Policy.Read.All" in lab.get("evidence", ""),
          "nor does the report's legacy-auth-blocked check: not evaluated, saying what was refused (%s)" % lab)
    drift = wait_for(lambda: [d for d in alerts(env, "unapproved-mailbox-exception")
                              if d["subject"] == "scanner2@contoso.com"], timeout=30, what="drift alert")
    check(bool(drift) and "is unknown" in drift[0]["summary"],
          "the state rules still run: unapproved-mailbox-exception fires and says Basic is unknown (%s)"
          % (drift[0]["summary"] if drift else None))
    check("state rules failed" not in env.log_text() and "detection failed" not in env.log_text(),
          "and detection logs no failure")
    rc, text = env.ctl("metrics", json_out=False)
    check(rc == 0 and 'smtpwatch_source_up{tenant="contoso",source="policies"} 0' in text,
          "the metrics show the policies source down")


def main():
    for scenario, fn in (("effective.json", layered), ("effective-denied.json", denied)):
        env = Env("effective", scenario=scenario, register="")
        try:
            fn(env)
            if fn is layered:
                restart(env)
        finally:
            env.close()
    finish()


if __name__ == "__main__":
    main()
