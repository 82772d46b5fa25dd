"""The fault matrix, one row a test.  For each fault the daemon stays up,
logs one clear line naming it, loses nothing, and catches up.

    test_faults.py ROW      run one row (meson runs each as "fault ROW")
    test_faults.py --list   the rows

Sign-in rows: the simulator injects the fault into the next sign-ins run;
new sign-ins added just before must all be stored once it has passed.
The webhook row: the receiver answers 503, then 200 again.  The clock
rows: smtpwatchd runs under libfaketime (its wall clock only; the
monotonic clock that drives its timers stays real) and the wall clock
steps two hours forward or back.  The outage row: the sign-ins source
fails while the daemon's clock moves 28 days on, near the end of Entra's
30-day retention.  The full disk is test_diskfull (it
needs a tmpfs)."""

import os
import json
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"
FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"]

# slug: (what, faults, what the log line says, needs a second poll)
SIGNIN_ROWS = {
    "http-500": ("HTTP 500", [{"endpoint": "signins", "status": 500, "count": 1}], "HTTP 500", False),
    "http-502": ("HTTP 502", [{"endpoint": "signins", "status": 502, "count": 1}], "HTTP 502", False),
    "http-503": ("HTTP 503", [{"endpoint": "signins", "status": 503, "retry_after": 1, "count": 1}], "HTTP 503",
                 False),
    "http-504": ("HTTP 504", [{"endpoint": "signins", "status": 504, "count": 1}], "HTTP 504", False),
    "429-storm": ("429 storm", [{"endpoint": "signins", "status": 429, "retry_after": 1, "count": 5}], "throttled",
                  False),
    # libcurl retries a reused connection that was closed under it on its
    # own, so a reset may leave no line at all: only catching up counts.
    "reset": ("connection reset mid-body", [{"endpoint": "signins", "reset": True, "count": 1}], None, False),
    "truncated-body": ("truncated body", [{"endpoint": "signins", "truncate": True, "count": 1}], "request failed",
                       False),
    "truncated-json": ("truncated JSON", [{"endpoint": "signins", "bad_json": True, "count": 1}], "malformed page",
                       False),
    "invalid-utf8": ("invalid UTF-8", [{"endpoint": "signins", "invalid_utf8": True, "count": 1}], "malformed page",
                     False),
    "50mb-body": ("50 MB body", [{"endpoint": "signins", "big_body_mb": 50, "count": 1}], "larger than 32 MiB",
                  False),
    "content-type": ("wrong content type", [{"endpoint": "signins", "content_type": "text/html", "count": 1}],
                     "unexpected content type", False),
    "skiptoken-400": ("expired skip token (400)", [{"endpoint": "signins", "after": 1, "status": 400, "count": 1}],
                      "HTTP 400", True),
    "token-expired": ("token expired mid-paging", [{"endpoint": "signins", "after": 1, "expire_token": True,
                                                    "count": 1}], "renewing the token", False),
    "token-503": ("token endpoint 503", [{"endpoint": "token", "status": 503, "retry_after": 1, "count": 1},
                                         {"endpoint": "signins", "expire_token": True, "count": 1}], "503", False),
}


def add_signins(env, user, n, error_code=50126, ip="192.0.2.10"):
    env.sim.add_signins(TENANT, [{"at": "-20m", "user": user, "ip": ip, "country": "NL",
                                  "error_code": error_code, "count": n, "every": "10s"}])


def first_run(env):
    src = wait_for(lambda: (env.source() or {}).get("state") == "ok" and env.source(), timeout=60,
                   what="first run")
    check(bool(src), "the first run completes")
    return src["records"] if src else 0


def caught_up(env, expected, what):
    return wait_for(lambda: (env.source() or {}).get("records") == expected and env.source()["state"] == "ok"
                    and env.source(), timeout=60, what=what)


def signin_row(env, slug):
    name, faults, says, second_poll = SIGNIN_ROWS[slug]
    env.start_daemon()
    # 80 new sign-ins: with the scenario's page size of 50 the run takes
    # two pages, so faults "after" the first page land mid-paging.
    expected = first_run(env) + 80
    add_signins(env, "row-%s@contoso.com" % slug, 80)
    log_before = len(env.log_text())
    env.sim.faults(faults)
    env.ctl("poll")
    if second_poll:
        wait_for(lambda: says in env.log_text()[log_before:], timeout=30, what=name)
        wait_for(lambda: not env.source()["state"] == "running", timeout=30)
        env.ctl("poll")
    got = caught_up(env, expected, name)
    log = env.log_text()[log_before:]
    check(env.daemon.poll() is None, "%s: the daemon stays up" % name)
    if says is not None:
        check(says in log, "%s: the log says so (%r)" % (name, says))
    check(bool(got), "%s: nothing lost, it catches up (%s of %d records)"
          % (name, (env.source() or {}).get("records"), expected))
    with env.db() as db:
        n, d = db.execute("SELECT count(*), count(DISTINCT id) FROM signins").fetchone()
    check(n == d == expected, "%s: every sign-in stored once (%d rows, %d ids)" % (name, n, d))


def hook_bodies(env, subject):
    return [h for h in env.sim.hooks("soc") if json.loads(h["body"]).get("subject") == subject]


def webhook_row(env):
    """The webhook receiver answers 503 while an alert fires, then 200."""
    env.start_daemon()
    first_run(env)
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 503})
    user = "lobby-printer@contoso.com"
    add_signins(env, user, n=2, error_code=0, ip="198.51.100.40")
    log_before = len(env.log_text())
    env.ctl("poll")
    failed = wait_for(lambda: [h for h in hook_bodies(env, user) if h["status"] == 503], timeout=60,
                      what="a refused delivery")
    check(bool(failed), "the alert for %s reached the receiver, which answered 503" % user)
    said = wait_for(lambda: "HTTP 503, retrying in" in env.log_text()[log_before:], timeout=10,
                    what="the retry line")
    check(bool(said), "the log says the sink answered 503 and when it retries")
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 200})
    ok = wait_for(lambda: [h for h in hook_bodies(env, user) if h["status"] == 200], timeout=60,
                  what="delivery once the receiver is back")
    check(bool(ok), "once the receiver is back the alert is delivered (back-off about 10 s)")
    keys = {h["headers"].get("idempotency-key") for h in hook_bodies(env, user)}
    check(len(keys) == 1, "the retry carries the same Idempotency-Key (%s)" % keys)
    check(env.daemon.poll() is None, "the daemon stays up")
    def queued():
        with env.db() as db:
            return db.execute("SELECT count(*) FROM outbox WHERE sink = 'soc' AND state = 0").fetchone()[0]
    drained = wait_for(lambda: queued() == 0, timeout=60, what="the webhook queue to drain")
    check(drained, "every alert queued meanwhile is delivered too (%d left)" % queued())


def start_faketime_daemon(env):
    """smtpwatchd with its wall clock under libfaketime, at +0 for now;
    returns a function that sets the offset in seconds."""
    lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if lib is None:
        print("# skipped: libfaketime is not installed (apt-get install libfaketime)")
        env.close()
        sys.exit(77)
    spec = os.path.join(env.dir, "faketime")

    def set_offset(seconds):
        with open(spec, "w") as f:
            f.write("%+ds\n" % seconds)
    set_offset(0)
    # Only the wall clock: libevent's timers and the clock watch's
    # reference stay on the real monotonic clock.
    env.start_daemon(env={"LD_PRELOAD": lib, "FAKETIME_TIMESTAMP_FILE": spec, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                          "FAKETIME_CACHE_DURATION": "1", "ASAN_OPTIONS": "verify_asan_link_order=0"})
    return set_offset


def clock_row(env, offset):
    """The daemon's wall clock steps by offset while it runs.  One alert is
    waiting on a refused delivery when it steps: its retry is due by the
    wall clock and must move with it, not wait two hours."""
    set_offset = start_faketime_daemon(env)
    expected = first_run(env)
    delivered = wait_for(lambda: [h for h in env.sim.hooks("soc") if h["status"] == 200], timeout=60,
                         what="the first alerts delivered")
    check(bool(delivered), "the alerts of the first run are delivered")
    pre = {json.loads(h["body"])["id"] for h in env.sim.hooks("soc") if h["status"] == 200}
    # A sender whose alert the receiver refuses: queued with a back-off.
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 503})
    waiting = "clockq@contoso.com"
    add_signins(env, waiting, n=2, error_code=0, ip="198.51.100.42")
    expected += 2
    env.ctl("poll")
    refused = wait_for(lambda: [h for h in hook_bodies(env, waiting) if h["status"] == 503], timeout=60,
                       what="a refused delivery before the jump")
    check(bool(refused), "an alert is waiting on a refused delivery when the clock steps")
    before = len(env.log_text())
    set_offset(offset)
    jumped = wait_for(lambda: "the wall clock jumped" in env.log_text()[before:], timeout=40,
                      what="the clock jump line")
    lines = [l for l in env.log_text()[before:].splitlines() if "the wall clock jumped" in l]
    check(bool(jumped) and len(lines) == 1, "one line says the wall clock jumped (%s)" % lines)
    step = re.search(r"jumped ([+-][0-9]+)s", lines[0]) if lines else None
    check(step and abs(int(step.group(1)) - offset) <= 5, "the line gives the size of the step (%s)" % lines)
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 200})
    retried = wait_for(lambda: [h for h in hook_bodies(env, waiting) if h["status"] == 200], timeout=60,
                       what="the retry after the jump")
    check(bool(retried), "the refused delivery is retried after its back-off%s" %
          (", not 2 hours later" if offset < 0 else ""))
    # A new sender after the jump: the first sign-ins run after it stores
    # its sign-ins with the event rules paused; once they resume, the
    # sign-ins still unexamined raise the alert (nothing is skipped).
    user = "clock%s@contoso.com" % ("fwd" if offset > 0 else "back")
    add_signins(env, user, n=3, error_code=0, ip="198.51.100.41")
    expected += 3
    env.ctl("poll")
    got = caught_up(env, expected, "catch up after the jump")
    check(bool(got), "every sign-in after the jump is stored (%s of %d)"
          % ((env.source() or {}).get("records"), expected))
    env.ctl("poll")
    resumed = wait_for(lambda: "sign-in event rules resume" in env.log_text()[before:], timeout=60,
                       what="resume line")
    check(bool(resumed), "the event rules resume after one run")
    alert = wait_for(lambda: [h for h in hook_bodies(env, user) if h["status"] == 200], timeout=60,
                     what="the alert raised after the jump")
    check(bool(alert), "the sender seen across the jump is alerted once the rules resume")
    # No flood: the alerts that fired before the jump are neither resolved
    # nor sent again because "now" moved.
    again = [json.loads(h["body"])["id"] + "/" + json.loads(h["body"])["status"] for h in env.sim.hooks("soc")
             if json.loads(h["body"])["id"] in pre]
    check(pre and len(again) == len(pre), "the alerts from before the jump are not resent or resolved (%s)" % again)
    check(env.daemon.poll() is None, "the daemon stays up")
    with env.db() as db:
        n, d = db.execute("SELECT count(*), count(DISTINCT id) FROM signins").fetchone()
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
    check(n == d == expected and ok == "ok", "every sign-in once, database intact (%d, %d, %s)" % (n, d, ok))


def outage_row(env):
    """The sign-ins source fails for 28 days (the daemon's clock moves on):
    coverage-gap warns before Entra's 30 days drop the unread sign-ins,
    and resolves once the source catches up with nothing lost."""
    set_offset = start_faketime_daemon(env)
    expected = first_run(env)
    env.sim.faults([{"endpoint": "signins", "status": 500, "count": 100000}])
    add_signins(env, "during-outage@contoso.com", 5)
    expected += 5
    set_offset(28 * 86400)
    env.ctl("poll")
    gap = wait_for(lambda: [json.loads(h["body"]) for h in env.sim.hooks("soc")
                            if json.loads(h["body"])["rule"] == "coverage-gap"], timeout=60,
                   what="coverage-gap at the webhook")
    check(bool(gap) and gap[0]["severity"] == "high" and gap[0]["status"] == "firing",
          "coverage-gap fires (high) while the source fails near the end of retention (%s)"
          % [(g["severity"], g["status"]) for g in gap])
    check(gap and "lost for good from" in gap[0]["summary"] and "unobserved, not quiet" in gap[0]["summary"],
          "its summary says when the gap is lost and that the tenant is unobserved (%s)"
          % (gap[0]["summary"] if gap else None))
    unhealthy = [json.loads(h["body"]) for h in env.sim.hooks("soc")
                 if json.loads(h["body"])["rule"] == "source-unhealthy"]
    check(bool(unhealthy), "source-unhealthy fires too")
    env.sim.clear_faults()
    env.ctl("poll")
    got = caught_up(env, expected, "catch up after the outage")
    check(bool(got), "every sign-in of the outage is stored once the source works (%s of %d)"
          % ((env.source() or {}).get("records"), expected))
    resolved = wait_for(lambda: [json.loads(h["body"]) for h in env.sim.hooks("soc")
                                 if json.loads(h["body"])["rule"] == "coverage-gap"
                                 and json.loads(h["body"])["status"] == "resolved"], timeout=60,
                        what="coverage-gap resolved")
    check(bool(resolved), "coverage-gap resolves once the source caught up")
    check(env.daemon.poll() is None, "the daemon stays up")


ROWS = dict({slug: (lambda env, s=slug: signin_row(env, s)) for slug in SIGNIN_ROWS},
            **{"webhook-down-up": webhook_row,
               "clock-forward": lambda env: clock_row(env, 7200),
               "clock-back": lambda env: clock_row(env, -7200),
               "outage-28d": outage_row})


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        print("\n".join(ROWS))
        return
    if len(sys.argv) != 2 or sys.argv[1] not in ROWS:
        sys.exit("usage: test_faults.py ROW | --list  (rows: %s)" % ", ".join(ROWS))
    slug = sys.argv[1]
    # page_size 50: a run is one or two pages, so rows stay quick.
    env = Env("fault-" + slug, scenario="exchange.json")
    try:
        ROWS[slug](env)
        log = env.log_text()
        check("sim-secret-contoso" not in log and "Bearer " not in log, "no secret or token in any line")
        rc, st = env.ctl("status")
        check(rc == 0, "status still answers")
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
