"""Crash consistency: the daemon is killed with SIGKILL at random moments
(while it ingests, detects and delivers) and restarted each time; then a
clean cycle runs to the end.  After every kill the database passes PRAGMA
integrity_check.  At the end every sign-in the simulator serves is stored
exactly once, every alert transition reached the webhook receiver at least
once as that alert's document of that transition, and repeated deliveries
carry the same Idempotency-Key and body.

SW_CRASH_KILLS (default 20) sets the number of kills (bench/crash-full runs
200), SW_CRASH_SEED the random seed (printed, so a failure can be re-run),
SW_CRASH_MAX_DELAY the longest time a daemon lives (default 3 s).

The lookback (1d) covers the whole scenario, so every restart re-reads all
20,000 records and kills land in ingest and dedupe, not only in the first
run; every third cycle adds a few new sign-ins (new senders, more of the
known ones) so that detection raises new alerts and repeat transitions, and
the receiver answers after 100 ms so that kills land mid-delivery."""

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLIENT_ID, SECRET, Env, check, finish, wait_for  # noqa: E402

KILLS = int(os.environ.get("SW_CRASH_KILLS", "20"))
SEED = int(os.environ.get("SW_CRASH_SEED", str(int(time.time()))))
MAX_DELAY = float(os.environ.get("SW_CRASH_MAX_DELAY", "3"))
TENANTS = ["crash%d" % i for i in range(1, 5)]
PER_TENANT = 4700  # unique sign-ins per tenant in sim/scenarios/crash.json
ROOM = 260         # more fit in the five pages of 1,000 a run (4,740 served)


def write_config(env):
    """Four tenants of the crash scenario, one webhook sink."""
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 40 * 86400))
    parts = ["[daemon]\nstate_dir = %s\nsocket = %s\nsocket_group =\nallow_root = yes\n\n" % (env.state, env.socket)]
    for t in TENANTS:
        reg = os.path.join(env.dir, "exceptions-%s.conf" % t)
        with open(reg, "w") as f:
            f.write("[exception scanner-hq@%s.com]\nowner = facilities@%s.com\n"
                    "justification = MFP scan-to-mail\nticket = CHG-1\nexpires = %s\n"
                    "allowed_ips = 203.0.113.0/28\n" % (t, t, expires))
        parts.append("[tenant %s]\ntenant_id = %s.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
                     "login_url = %s\ngraph_url = %s\nexchange_url = %s\nexceptions = %s\n"
                     "signins_interval = 1h\nsignins_lookback = 1d\ninitial_backfill = 1d\n\n" %
                     (t, t, CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url, reg))
    # Every transition on its own (digest_after = 0): the checks below match
    # each stored transition to its Idempotency-Key; digests are
    # test_delivery's.
    parts.append("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nmin_severity = info\ndigest_after = 0\n"
                 % env.sim.url)
    with open(env.conf, "w") as f:
        f.write("".join(parts))


def db_path(env):
    return os.path.join(env.state, "smtpwatch.db")


def sql(env, query):
    """Rows of a query through the sqlite3 CLI (tab-separated)."""
    p = subprocess.run(["sqlite3", "-separator", "\t", db_path(env), query], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise RuntimeError("sqlite3: " + p.stderr.strip())
    return [line.split("\t") for line in p.stdout.splitlines()]


def integrity(env):
    if not os.path.exists(db_path(env)):
        return "no database yet"
    p = subprocess.run(["sqlite3", db_path(env), "PRAGMA integrity_check"], capture_output=True, text=True,
                       timeout=120)
    return (p.stdout + p.stderr).strip()


def phase(env, before):
    """What the daemon was doing when it died, from the simulator's counters
    and the database: ingest (sign-in pages still being fetched), delivery
    (hooks were being called), startup (no page asked for yet) or
    detection/idle."""
    st = env.sim.stats()
    hooks = st["requests"]["hooks"] - before["requests"]["hooks"]
    pages = st["requests"]["signins"] - before["requests"]["signins"]
    done = sql(env, "SELECT count(*) FROM checkpoints WHERE source = 'signins' AND last_success >= %d"
               % int(before["t"])) if os.path.exists(db_path(env)) else [["0"]]
    if pages == 0:
        return "startup"
    if int(done[0][0]) < len(TENANTS):
        return "ingest"
    if hooks > 0:
        return "delivery"
    return "detection/idle"


def add_signins(env, rng, i, added):
    """New sign-ins for a random tenant: more detection and deliveries."""
    t = rng.choice(TENANTS)
    n = rng.randint(3, 40)
    if added[t] + n > ROOM:
        return  # a sixth page would wait 10 s for Graph's pacing
    user = rng.choice(["scanner2", "app-legacy", "ceo", "newdev%02d" % (i % 7)])
    env.sim.add_signins("%s.onmicrosoft.com" % t, [
        {"at": "-%ds" % (10 * n + 5), "every": "10s", "count": n, "user": "%s@%s.com" % (user, t),
         "ip": "198.51.100.%d" % rng.randint(1, 200), "country": "NL",
         "error_code": 0 if user != "ceo" else 50126}])
    added[t] += n


def kill_cycle(env, rng):
    """Start the daemon, let it work for a random time, SIGKILL it."""
    if os.path.exists(env.socket):
        os.unlink(env.socket)  # a killed daemon leaves its socket behind
    before = env.sim.stats()
    before["t"] = time.time() - 1
    env.start_daemon()
    time.sleep(rng.uniform(0.05, MAX_DELAY))
    where = phase(env, before)
    env.daemon.send_signal(signal.SIGKILL)
    env.daemon.wait()
    env.daemon = None
    env.dlog.close()
    return where


def graph_ids(env, tenant):
    """Every sign-in id the simulator serves for a tenant, read like the
    daemon reads it (token, then pages by nextLink)."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                   "client_secret": SECRET, "scope": env.sim.url + "/.default"}).encode()
    with urllib.request.urlopen("%s/%s.onmicrosoft.com/oauth2/v2.0/token" % (env.sim.url, tenant), form,
                                timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    url = env.sim.url + "/v1.0/auditLogs/signIns?$top=1000&$filter=" + urllib.parse.quote(
        "clientAppUsed eq 'Authenticated SMTP'")
    ids = []
    for _ in range(100):
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as r:
            page = json.loads(r.read())
        ids += [rec["id"] for rec in page["value"]]
        url = page.get("@odata.nextLink")
        if not url:
            break
    return ids


def final_cycle(env):
    """A clean run to the end: every tenant's sign-ins complete, the outbox
    empty, then a graceful stop."""
    if os.path.exists(env.socket):
        os.unlink(env.socket)
    start = time.time() - 1
    env.start_daemon()

    def settled():
        s = env.status()
        if not s:
            return False
        for t in TENANTS:
            src = s["tenants"][t]["sources"]["signins"]
            if src.get("state") != "ok" or src.get("records") is None:
                return False
        done = sql(env, "SELECT count(*) FROM checkpoints WHERE source = 'signins' AND last_success >= %d"
                   % int(start))
        pending = sql(env, "SELECT count(*) FROM outbox WHERE state = 0")
        return int(done[0][0]) == len(TENANTS) and int(pending[0][0]) == 0

    ok = wait_for(settled, timeout=150, step=0.5, what="a complete clean cycle with an empty outbox")
    check(bool(ok), "the clean cycle after the kills completes and drains the outbox")
    # Detection may still hand a last transition to the outbox: let it settle.
    time.sleep(2)
    wait_for(lambda: int(sql(env, "SELECT count(*) FROM outbox WHERE state = 0")[0][0]) == 0, timeout=60,
             step=0.5, what="the outbox to drain")
    rc = env.stop_daemon()
    check(rc == 0, "the daemon stops cleanly after the clean cycle (%s)" % rc)


def verify_signins(env, added):
    for t in TENANTS:
        served = graph_ids(env, t)
        unique = set(served)
        rows = sql(env, "SELECT count(*), count(DISTINCT id) FROM signins WHERE tenant = '%s'" % t)
        total, distinct = int(rows[0][0]), int(rows[0][1])
        stored = set(r[0] for r in sql(env, "SELECT id FROM signins WHERE tenant = '%s'" % t))
        rollup = sql(env, "SELECT n FROM signin_counts WHERE tenant = '%s'" % t)
        check(len(unique) == PER_TENANT + added[t], "%s: the simulator serves %d unique sign-ins (%d with "
              "duplicates; %d added during the kills)" % (t, len(unique), len(served), added[t]))
        check(total == distinct, "%s: no sign-in is stored twice (%d rows, %d ids)" % (t, total, distinct))
        check(stored == unique, "%s: every served sign-in is stored, nothing else (missing %d, extra %d)"
              % (t, len(unique - stored), len(stored - unique)))
        check(rollup and int(rollup[0][0]) == total, "%s: the count rollup matches the rows (%s vs %d)"
              % (t, rollup, total))


def verify_alerts(env):
    hooks = env.sim.hooks("soc")
    by_key, by_body = {}, {}
    bad_key = 0
    for h in hooks:
        key = h["headers"].get("idempotency-key")
        by_key.setdefault(key, set()).add(h["body"])
        by_body.setdefault(h["body"], set()).add(key)
        try:
            doc = json.loads(h["body"])
            if key is None or not key.startswith(doc["id"] + "-"):
                bad_key += 1
        except (ValueError, KeyError):
            bad_key += 1
    delivered = [h for h in hooks if h.get("status") == 200]
    dups = len(hooks) - len(by_key)
    print("# %d webhook requests, %d distinct Idempotency-Keys, %d repeats" % (len(hooks), len(by_key), dups))
    check(bad_key == 0, "every webhook request has Idempotency-Key {alert id}-{transition} (%d bad)" % bad_key)
    check(all(len(b) == 1 for b in by_key.values()),
          "repeats of one Idempotency-Key carry the identical body (%d keys differ)"
          % sum(1 for b in by_key.values() if len(b) > 1))
    check(all(len(k) == 1 for k in by_body.values()),
          "one body is never sent under two Idempotency-Keys (%d bodies)"
          % sum(1 for k in by_body.values() if len(k) > 1))

    keys_ok = set(h["headers"].get("idempotency-key") for h in delivered)
    alerts = sql(env, "SELECT id, transition, rule, tenant, subject FROM alerts")
    missing = ["%s-%d" % (a[0], n) for a in alerts for n in range(1, int(a[1]) + 1)
               if "%s-%d" % (a[0], n) not in keys_ok]
    check(len(alerts) > 0, "the scenario raised alerts (%d)" % len(alerts))
    check(not missing, "every transition of every stored alert reached the receiver (%d missing: %s)"
          % (len(missing), missing[:5]))
    outbox = sql(env, "SELECT alert_id, transition, state FROM outbox WHERE sink = 'soc'")
    undelivered = [r for r in outbox if r[2] != "1"]
    check(not undelivered, "every outbox row is delivered (%d not)" % len(undelivered))
    # What the receiver got under each key is that alert's document of that
    # transition: its id, transition, rule, tenant and subject (a body
    # shared by the wrong rows, or torn by a kill, would show here).
    by_id = {a[0]: (a[2], a[3], a[4]) for a in alerts}
    wrong = []
    for h in delivered:
        key = h["headers"].get("idempotency-key") or ""
        doc = json.loads(h["body"])
        alert, _, n = key.rpartition("-")
        if (doc.get("id") != alert or str(doc.get("transition")) != n
                or (doc.get("rule"), doc.get("tenant"), doc.get("subject")) != by_id.get(alert)):
            wrong.append(key)
    check(not wrong, "each delivered document is its alert's, of the transition its key names (%d not: %s)"
          % (len(wrong), wrong[:5]))

    seen = set((a[2], a[3], a[4]) for a in alerts)
    for t in TENANTS:
        for rule, subject in [("unapproved-basic-auth-submission", "scanner2@%s.com" % t),
                              ("unapproved-basic-auth-submission", "app-legacy@%s.com" % t)]:
            check((rule, t, subject) in seen, "%s: the expected %s alert for %s exists" % (t, rule, subject))
        sent = set(json.loads(h["body"]).get("rule") for h in delivered
                   if json.loads(h["body"]).get("tenant") == t)
        check("unapproved-basic-auth-submission" in sent, "%s: the unapproved sender alert reached the webhook" % t)


def main():
    rng = random.Random(SEED)
    print("# seed %d, %d kills, up to %.1fs each" % (SEED, KILLS, MAX_DELAY), flush=True)
    env = Env("crash", scenario="crash.json")
    write_config(env)
    t0 = time.monotonic()
    phases, bad = {}, []
    added = {t: 0 for t in TENANTS}
    try:
        for i in range(KILLS):
            if i % 3 == 2:
                add_signins(env, rng, i, added)
            where = kill_cycle(env, rng)
            phases[where] = phases.get(where, 0) + 1
            res = integrity(env)
            if res != "ok" and res != "no database yet":
                bad.append((i, res))
                print("# kill %d (%s): integrity_check: %s" % (i + 1, where, res), flush=True)
        print("# kills landed in: %s (%.0fs)" % (", ".join("%s %d" % kv for kv in sorted(phases.items())),
                                                time.monotonic() - t0), flush=True)
        check(not bad, "PRAGMA integrity_check is ok after each of %d kills (%d not)" % (KILLS, len(bad)))
        final_cycle(env)
        check(integrity(env) == "ok", "PRAGMA integrity_check is ok at the end")
        verify_signins(env, added)
        verify_alerts(env)
        print("# total %.0fs" % (time.monotonic() - t0), flush=True)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
