"""The delivery engine at scale (SPEC "Sinks at scale"), against real
receivers on loopback: a threaded HTTP receiver in this test that answers
slowly and counts the connections it serves at once, and the simulator's
Teams stand-in answering 429 with Retry-After.  About 30 unregistered
Basic senders raise one alert each; then:

- a webhook with max_in_flight = 4 has 4 requests in flight at once, and
  never more;
- a webhook with rate = 6 gets 6 requests in the first minute, not 30;
- a webhook that answers 503 is probed one request at a time (never two at
  once, a handful of requests, not one per queued alert), and gets every
  alert once it answers 200 again, each alert's Idempotency-Key once;
- Teams answering 429 with Retry-After: 25 gets nothing more for 25 s.

Then digests: a first cycle of 6,000 sign-ins by 3,000 unregistered Basic
senders (the flood scenario) raises 3,000 alerts of one rule; the webhook,
HEC and Teams each get a handful of smtpwatch.digest/1 requests, not
3,000, whose members add up to every alert exactly once; the Teams card
validates against the official Adaptive Card 1.4 schema; a syslog sink on
a unix socket (the syslog(3) form) and one over UDP (RFC 5424) get, for
each digest, exactly one message for it and one for each of its first 20
alerts; every alert stays listed, and the sinks count them delivered.
"""

import http.server
import json
import re
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402
from test_sinks import parse_5424, parse_local  # noqa: E402

N_SENDERS = 30
RULE = "unapproved-basic-auth-submission"


class Receiver:
    """A webhook receiver on an ephemeral loopback port: one thread per
    connection, a delay before each answer, a status per path, and the
    most requests it ever served at once per path."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.gate = None      # a Semaphore: each answer waits for one release()
        self.lock = threading.Lock()
        self.status = {}      # path -> status to answer
        self.active = {}      # path -> requests being served now
        self.peak = {}        # path -> most requests served at once
        self.got = {}         # path -> [(monotonic start, headers, body, status)]
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def do_POST(self):
                path = self.path
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    n = outer.active.get(path, 0) + 1
                    outer.active[path] = n
                    outer.peak[path] = max(outer.peak.get(path, 0), n)
                    status = outer.status.get(path, 200)
                    outer.got.setdefault(path, []).append((time.monotonic(), dict(self.headers), body, status))
                time.sleep(outer.delay)
                if outer.gate is not None:
                    outer.gate.acquire(timeout=300)
                with outer.lock:
                    outer.active[path] -= 1
                payload = b'{"ok":true}' if status < 300 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def requests(self, path):
        with self.lock:
            return list(self.got.get(path, []))

    def delivered_keys(self, path):
        """Idempotency-Keys the receiver answered 2xx for."""
        return {h.get("Idempotency-Key") for _, h, _, st in self.requests(path) if st < 300}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


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


def alert_keys(env):
    """The Idempotency-Keys of every alert the daemon stored (the webhook
    sinks want them all)."""
    rc, lst = env.ctl("alerts", "--all")
    alerts = lst if isinstance(lst, list) else (lst or {}).get("alerts", [])
    return {"%s-%d" % (a["id"], a["transition"]) for a in alerts} if rc == 0 else set()


FLOOD = 3000
SCHEMA = os.path.join(os.path.dirname(__file__), "..", "data", "adaptivecards", "adaptive-card-1.4.json")


def card_validator():
    """The official Adaptive Card 1.4 schema, msteams allowed on the card."""
    import jsonschema
    with open(SCHEMA) as f:
        schema = json.load(f)
    schema["definitions"]["AdaptiveCard"]["properties"]["msteams"] = {"type": "object"}
    return jsonschema.Draft6Validator(schema)


def digest_members(docs):
    """Alert ids a list of received documents covers: a digest's count is
    its members; its alerts list the first 50 of them."""
    ids, counted = [], 0
    for d in docs:
        if d.get("schema") == "smtpwatch.digest/1":
            counted += d["count"]
            ids += [a["id"] for a in d["alerts"]]
        else:
            counted += 1
            ids.append(d["id"])
    return counted, ids


class DgramReceiver:
    """A syslog receiver on a unix datagram socket or UDP that reads every
    datagram as it comes, in a thread (a unix socket queues only 10)."""

    def __init__(self, path=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(path)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.frames = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                self.frames.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                pass
            except OSError:
                return

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def check_syslog_digests(name, frames, parse, owed):
    """frames of one syslog sink, in order: each digest is one message
    (status digest, its count) and then exactly its first 20 alerts
    (min(20, count)); the rest are single alerts.  The digests' counts and
    the single alerts add up to every notification."""
    parsed = [parse(f) for f in frames]
    check(all(p is not None for p in parsed), "syslog %s: every message matches its form (%s)"
          % (name, [f[:100] for f, p in zip(frames, parsed) if p is None][:1]))
    parsed = [p for p in parsed if p is not None]
    fields = [p["fields"] if "fields" in p else p["params"] for p in parsed]
    fields = [f for f in fields if f.get("rule") == RULE]
    i, heads, counted, bad = 0, 0, 0, []
    while i < len(fields):
        f = fields[i]
        if f.get("status") != "digest":
            counted += 1
            i += 1
            continue
        heads += 1
        n = int(f["count"])
        members = fields[i + 1:i + 1 + min(20, n)]
        if (len(members) != min(20, n) or any(m.get("status") == "digest" for m in members)
                or not f["id"].startswith("digest-")):
            bad.append(f["id"])
        counted += n
        i += 1 + min(20, n)
    check(heads >= 1 and not bad, "syslog %s: %d digests, each one message and then its first 20 alerts (%s)"
          % (name, heads, bad[:3]))
    check(counted == owed, "syslog %s: the digests' counts and the single alerts cover every notification "
          "(%d of %d)" % (name, counted, owed))
    check(len(fields) <= 10 * 21, "syslog %s: %d messages for %d notifications, not one each"
          % (name, len(fields), owed))


def test_digests():
    env = Env("digest", scenario="flood.json", sinks="")
    local_path = os.path.join(env.dir, "digest-log.sock")
    local, udp = DgramReceiver(local_path), DgramReceiver()
    senders = ["mfp%04d@contoso.com" % i for i in range(FLOOD)]
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-110m", "every": "1s", "count": 2 * FLOOD, "user": senders, "ip": "198.51.100.30",
         "country": "NL", "error_code": 0}])
    tok = os.path.join(env.dir, "hec.token")
    with open(tok, "w") as f:
        f.write("11111111-2222-3333-4444-555555555555\n")
    os.chmod(tok, 0o600)
    with open(env.conf, "a") as f:
        f.write("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\n\n"
                "[sink hec]\ntype = splunk-hec\nurl = %s/hooks/hec\ntoken_file = %s\n\n"
                "[sink teams]\ntype = teams\nurl = %s/hooks/teams/workflows/x\nrules = %s\n\n"
                "[sink local]\ntype = syslog\naddress = unix:%s\nrules = %s\n\n"
                "[sink udp]\ntype = syslog\naddress = udp://127.0.0.1:%d\nformat = rfc5424\nrules = %s\n"
                % (env.sim.url, env.sim.url, tok, env.sim.url, RULE, local_path, RULE, udp.port, RULE))
    env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 202, "body": ""})
    try:
        rc = env.run_once(timeout=240)
        check(rc == 0, "--once over 6,000 sign-ins exits 0 (%s)" % rc)
        db = env.db()
        n_alerts = db.execute("SELECT count(*) FROM alerts WHERE rule = ?", (RULE,)).fetchone()[0]
        pending = db.execute("SELECT sink, count(*) FROM outbox WHERE state = 0 GROUP BY sink").fetchall()
        # Notifications: an alert whose count doubled within the cycle is
        # sent twice (after its first send), as any alert is.
        owed = db.execute("SELECT count(*) FROM outbox WHERE sink = 'soc' AND members = 0 AND rule = ?",
                          (RULE,)).fetchone()[0]
        owed_syslog = {s: db.execute("SELECT count(*) FROM outbox WHERE sink = ? AND members = 0 AND rule = ?",
                                     (s, RULE)).fetchone()[0] for s in ("local", "udp")}
        db.close()
        check(n_alerts == FLOOD, "one alert per sender is stored (%d)" % n_alerts)
        check(pending == [], "nothing is left queued after the cycle (%s)" % pending)

        soc = [json.loads(h["body"]) for h in env.sim.hooks("soc")]
        flood = [d for d in soc if d.get("rule") == RULE]
        check(1 <= len(flood) <= 10, "webhook: %d requests for %d alerts of one rule" % (len(flood), FLOOD))
        counted, ids = digest_members(flood)
        digests = [d for d in flood if d.get("schema") == "smtpwatch.digest/1"]
        check(counted == owed and owed >= FLOOD,
              "webhook: the digests' counts add up to every notification (%d of %d)" % (counted, owed))
        check(len(ids) == len(set(ids)), "webhook: no alert in two digests")
        check(all(len(d["alerts"]) == min(50, d["count"]) and d["more"] == max(0, d["count"] - 50)
                  and d["tenant"] == "contoso" and d["tenant_id"] == "contoso.onmicrosoft.com"
                  and d["severity"] == "high" and d["severity_id"] == 4 and d["rule"] == RULE
                  and all(a.get("schema") == "smtpwatch.alert/2" for a in d["alerts"]) for d in digests)
              and digests, "webhook: smtpwatch.digest/1 with up to 50 alert documents and more = count - 50")
        check(all(d["first_seen"] <= min(a["first_seen"] for a in d["alerts"])
                  and d["last_seen"] >= max(a["last_seen"] for a in d["alerts"]) for d in digests) and digests,
              "webhook: a digest's first_seen and last_seen span those of the alerts it carries")
        keys = [h["headers"].get("idempotency-key") for h in env.sim.hooks("soc")
                if json.loads(h["body"]).get("schema") == "smtpwatch.digest/1"]
        check(all(re.match(r"^digest-\d+-0$", k or "") for k in keys) and len(keys) == len(set(keys)),
              "webhook: each digest has its own Idempotency-Key digest-ID-0 (%s)" % keys[:3])

        hec = [e for h in env.sim.hooks("hec") for e in hec_events(h["body"])]
        hflood = [e["event"] for e in hec if e["event"].get("rule") == RULE]
        counted, _ = digest_members(hflood)
        check(1 <= len(hflood) <= 10 and counted == owed, "hec: %d events cover %d notifications" % (len(hflood), counted))

        teams = env.sim.hooks("teams")
        check(1 <= len(teams) <= 10, "teams: %d cards for %d alerts, not one each" % (len(teams), FLOOD))
        try:
            v = card_validator()
        except ImportError:
            v = None
        check(v is not None, "python3-jsonschema is installed (scripts/deps)")
        for t in teams[:3]:
            card = json.loads(t["body"])["attachments"][0]["content"]
            errs = [e.message[:120] for e in v.iter_errors(card)] if v else ["no validator"]
            check(not errs, "teams: the digest card validates against Adaptive Card 1.4 (%s)" % errs[:2])
            text = json.dumps(card)
            rows = [b for b in card["body"] if b.get("type") == "ColumnSet"]
            check(len(rows) == 21 and re.search(r"\d+ alerts: " + RULE, text) and "more" in text,
                  "teams: a table of 20 alerts under a header row, and how many more (%d rows)" % len(rows))

        time.sleep(0.5)  # the receivers' threads read what is still queued
        check_syslog_digests("local", local.frames, parse_local, owed_syslog["local"])
        check_syslog_digests("udp", udp.frames, parse_5424, owed_syslog["udp"])

        st_db = env.db()
        delivered = dict(st_db.execute("SELECT sink, delivered FROM sink_stats").fetchall())
        st_db.close()
        check(delivered.get("soc", 0) >= owed and delivered.get("teams", 0) >= owed,
              "the sinks count every member delivered (%s)" % delivered)

        # Every alert stays listed, each on its own.
        env.start_daemon()
        alerts = env.alerts_paged("--all")
        check(len([a for a in alerts if a["rule"] == RULE]) == FLOOD,
              "smtpwatchctl alerts lists all %d alerts" % FLOOD)
    finally:
        env.close()
        local.stop()
        udp.stop()


CHANNEL = "5a1c7f42-3b9e-4d6a-9c1e-0f2b8d7e6a55"
HEC_TOKEN = "11111111-2222-3333-4444-555555555555"


class HecReceiver:
    """Splunk HEC with indexer acknowledgement, as Splunk documents it: the
    event endpoint requires X-Splunk-Request-Channel and answers
    {"text":"Success","code":0,"ackId":N}; POST
    /services/collector/ack?channel=C with {"acks":[N,..]} answers
    {"acks":{"N":bool}}, true only ack_after seconds after the event was
    accepted, and never for the ack ids in lose (an event lost before it
    was indexed)."""

    def __init__(self, ack_after=2.0):
        self.ack_after = ack_after
        self.lock = threading.Lock()
        self.next_ack = 0
        self.accepted = {}   # ackId -> monotonic time
        self.lose = {0}      # the first event is never acknowledged
        self.events = []     # (ackId, headers, body)
        self.queries = []    # (monotonic, channel, ids asked)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                payload = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Authorization") != "Splunk " + HEC_TOKEN:
                    return self.reply(403, {"text": "Invalid token", "code": 4})
                chan = self.headers.get("X-Splunk-Request-Channel")
                path, _, query = self.path.partition("?")
                if path == "/services/collector/ack":
                    chan = chan or dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("channel")
                    if chan != CHANNEL:
                        return self.reply(400, {"text": "Data channel is missing", "code": 10})
                    ids = json.loads(body).get("acks", [])
                    now = time.monotonic()
                    with outer.lock:
                        outer.queries.append((now, chan, ids))
                        acks = {str(i): i in outer.accepted and i not in outer.lose
                                and now - outer.accepted[i] >= outer.ack_after for i in ids}
                    return self.reply(200, {"acks": acks})
                if path != "/services/collector/event":
                    return self.reply(404, {"text": "Not found", "code": 404})
                if chan is None:
                    return self.reply(400, {"text": "Data channel is missing", "code": 10})
                with outer.lock:
                    n = outer.next_ack
                    outer.next_ack += 1
                    outer.accepted[n] = time.monotonic()
                    outer.events.append((n, dict(self.headers), body))
                return self.reply(200, {"text": "Success", "code": 0, "ackId": n})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_hec_ack():
    """HEC with a channel: index, source and sourcetype in each event; an
    alert is delivered only once acknowledged (polled with back-off);
    alerts queued together go as several events in one POST; the request
    HEC never acknowledges is sent again after ack_timeout, each event as
    it was."""
    hec = HecReceiver(ack_after=2.0)
    env = Env("hec-ack", sinks="")
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-40m", "every": "10s", "count": 5, "user": ["fax%d@contoso.com" % i for i in range(5)],
         "ip": "198.51.100.21", "country": "NL", "error_code": 0}])
    tok = os.path.join(env.dir, "hec.token")
    with open(tok, "w") as f:
        f.write(HEC_TOKEN + "\n")
    os.chmod(tok, 0o600)
    with open(env.conf, "a") as f:
        f.write("[sink hec]\ntype = splunk-hec\nurl = http://127.0.0.1:%d\ntoken_file = %s\n"
                "index = smtpwatch\nsource = smtpwatch:test\nsourcetype = smtpwatch:alert:v2\n"
                "channel = %s\nack_timeout = 6s\ndigest_after = 0\n" % (hec.port, tok, CHANNEL))
    try:
        env.start_daemon()
        first = wait_for(lambda: hec.events, timeout=60, what="the first HEC event")
        st = (env.status() or {}).get("sinks", {}).get("hec", {})
        check(bool(first) and st.get("delivered") == 0 and st.get("queued", 0) >= 1,
              "hec: accepted but not yet acknowledged is not delivered (%s)" % st)
        n_alerts = len(alert_keys(env))
        done = wait_for(lambda: ((env.status() or {}).get("sinks", {}).get("hec", {}).get("queued") == 0
                                 and (env.status() or {}).get("sinks", {}).get("hec")), timeout=60,
                        what="every HEC event acknowledged")
        check(bool(done) and done.get("delivered") == n_alerts,
              "hec: every alert delivered once acknowledged (%s of %d)" % (done and done.get("delivered"), n_alerts))
        with hec.lock:
            events = list(hec.events)
            queries = list(hec.queries)
        check(all(h.get("X-Splunk-Request-Channel") == CHANNEL for _, h, _ in events),
              "hec: every event carries X-Splunk-Request-Channel")
        docs = [e for _, _, b in events for e in hec_events(b.decode())]
        check(all(d.get("index") == "smtpwatch" and d.get("source") == "smtpwatch:test"
                  and d.get("sourcetype") == "smtpwatch:alert:v2" and d["event"].get("schema") == "smtpwatch.alert/2"
                  for d in docs), "hec: index, source and sourcetype in each event (%s)" % docs[0] if docs else "")
        check(queries and all(c == CHANNEL for _, c, _ in queries), "hec: acks queried on the channel (%d)" % len(queries))
        asked0 = [t for t, _, ids in queries if 1 in ids or (len(events) > 1 and events[1][0] in ids)]
        gaps = [b - a for a, b in zip(asked0, asked0[1:])]
        check(len(asked0) >= 2 and all(g >= 0.8 for g in gaps),
              "hec: an unacknowledged event is polled again after a wait, not in a loop (%s)"
              % ["%.1f" % g for g in gaps])
        check(len(hec_events(events[0][2].decode())) > 1,
              "hec: the alerts queued together went in one POST (%d events)" % len(hec_events(events[0][2].decode())))
        # The lost request (ackId 0): each of its events sent again after
        # ack_timeout, the same event, and delivered then.
        lost = hec_events(events[0][2].decode())
        later = [e for _, _, b in events[1:] for e in hec_events(b.decode())]
        check(all(e in later for e in lost),
              "hec: every event of the request never acknowledged is sent again, the same event (%d)" % len(lost))
        again = [n for n, _, b in events[1:] if lost[0] in hec_events(b.decode())]
        if again:
            t_first = hec.accepted[0]
            t_again = hec.accepted[again[0]]
            check(t_again - t_first >= 6, "hec: ... after ack_timeout (%.1f s later)" % (t_again - t_first))
    finally:
        env.close()
        hec.stop()


def alert_subjects(env, rule):
    """Subjects of the stored alerts of rule, as `smtpwatchctl alerts --all` lists them."""
    rc, lst = env.ctl("alerts", "--all")
    alerts = lst if isinstance(lst, list) else (lst or {}).get("alerts", [])
    return {a["subject"] for a in alerts if a.get("rule") == rule} if rc == 0 else set()


def test_digest_takes_later():
    """A digest made but not sent yet takes the alerts of its rule and
    tenant raised after it was made: the receiver gets one digest for all
    of them, not a second digest (or lone alerts) for the late ones.  The
    webhook has one request in flight at a time, and the receiver answers
    each only when the test lets it, so the order is the test's: a brute
    force alert (its own group) queued before the digest is made goes out
    first and is held while more senders sign in."""
    rx = Receiver()
    rx.gate = threading.Semaphore(0)
    env = Env("digest-later", scenario="flood.json", sinks="")
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-20m", "every": "1s", "count": 1, "user": ["first@contoso.com"], "ip": "198.51.100.50",
         "country": "NL", "error_code": 0}])
    with open(env.conf, "a") as f:
        f.write("[sink soc]\ntype = webhook\nurl = %s\nmax_in_flight = 1\ndigest_after = 2\nmin_severity = info\n"
                % rx.url("/soc"))
    early = ["early%d@contoso.com" % i for i in range(3)]
    late = ["late%d@contoso.com" % i for i in range(4)]
    try:
        env.start_daemon()
        wait_for(lambda: rx.requests("/soc"), timeout=60, what="a first request, held")
        check(len(rx.requests("/soc")) == 1, "one request at a time, the first held by the receiver")
        # While it is held: three senders and a brute force on one mailbox.
        env.sim.add_signins("contoso.onmicrosoft.com", [
            {"at": "-10m", "every": "1s", "count": 3, "user": early, "ip": "198.51.100.51", "country": "NL",
             "error_code": 0},
            {"at": "-10m", "every": "2s", "count": 12, "user": ["victim@contoso.com"], "ip": "192.0.2.77",
             "country": "NL", "error_code": 50126}])
        env.ctl("poll")
        ok = wait_for(lambda: set(early) <= alert_subjects(env, RULE) and alert_subjects(env, "smtp-auth-brute-force"),
                      timeout=90, what="the early alerts and the brute force")
        check(bool(ok), "the early senders and the brute force are alerts")
        n = len(rx.requests("/soc"))
        rx.gate.release()
        # The digest of the early senders is made now; the brute force alert,
        # queued before it, goes first and is held.
        wait_for(lambda: len(rx.requests("/soc")) > n, timeout=60, what="the next request, held")
        held = json.loads(rx.requests("/soc")[-1][2])
        check(held.get("schema") != "smtpwatch.digest/1",
              "the request held second is not the digest (%s)" % held.get("rule"))
        env.sim.add_signins("contoso.onmicrosoft.com", [
            {"at": "-5m", "every": "1s", "count": 4, "user": late, "ip": "198.51.100.52", "country": "NL",
             "error_code": 0}])
        env.ctl("poll")
        ok = wait_for(lambda: set(late) <= alert_subjects(env, RULE), timeout=90, what="the late alerts")
        check(bool(ok), "the late senders are alerts while the digest waits")

        def drained():
            rx.gate.release()  # whatever is held answers; nothing more is held
            sinks = (env.status() or {}).get("sinks") or {}
            soc = sinks.get("soc") or {}
            return soc if soc.get("queued") == 0 and soc.get("in_flight") == 0 else None

        st = wait_for(drained, timeout=90, step=0.3, what="everything delivered")
        check(bool(st), "everything is delivered (%s)" % st)
        docs = [json.loads(b) for _, _, b, _ in rx.requests("/soc")]
        flood = [d for d in docs if d.get("rule") == RULE]
        digests = [d for d in flood if d.get("schema") == "smtpwatch.digest/1"]
        subjects = [a["subject"] for d in digests for a in d["alerts"]]
        with_late = [d for d in digests if set(late) & {a["subject"] for a in d["alerts"]}]
        check(len(with_late) == 1 and set(early + late) <= {a["subject"] for a in with_late[0]["alerts"]},
              "one digest carries the early and the late senders (%s)"
              % [(d["count"], sorted(a["subject"] for a in d["alerts"])) for d in digests])
        check(len(subjects) == len(set(subjects)) and not any(
            d.get("subject") in early + late for d in flood if d.get("schema") != "smtpwatch.digest/1"),
              "no sender is in two digests or sent alone as well")
        check(all(d["count"] == len(d["alerts"]) for d in digests) and with_late and with_late[0]["count"] >= 7,
              "the digest's count says how many it carries (%s)" % [d["count"] for d in digests])
        counted, _ = digest_members(flood)
        check(counted == len(alert_subjects(env, RULE)),
              "every alert of the rule is delivered once (%d of %d)" % (counted, len(alert_subjects(env, RULE))))
    finally:
        if rx.gate is not None:
            for _ in range(50):
                rx.gate.release()
        env.close()
        rx.stop()


def test_kill_mid_digest():
    """SIGKILL while a digest is on the wire and while HEC acks are polled:
    after a restart nothing is lost, and no digest is sent under two
    Idempotency-Keys (nor one key with two bodies)."""
    rx = Receiver(delay=3.0)
    hec = HecReceiver(ack_after=4.0)
    hec.lose = set()
    env = Env("kill-digest", scenario="flood.json", sinks="")
    senders = ["scan%03d@contoso.com" % i for i in range(200)]
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-50m", "every": "5s", "count": 200, "user": senders, "ip": "198.51.100.40", "country": "NL",
         "error_code": 0}])
    tok = os.path.join(env.dir, "hec.token")
    with open(tok, "w") as f:
        f.write(HEC_TOKEN + "\n")
    os.chmod(tok, 0o600)
    with open(env.conf, "a") as f:
        f.write("[sink soc]\ntype = webhook\nurl = %s\n\n"
                "[sink hec]\ntype = splunk-hec\nurl = http://127.0.0.1:%d\ntoken_file = %s\nchannel = %s\n"
                % (rx.url("/soc"), hec.port, tok, CHANNEL))
    try:
        env.start_daemon()
        wait_for(lambda: rx.requests("/soc") and hec.events, timeout=60, what="a digest in flight and a HEC event")
        time.sleep(0.5)
        env.daemon.kill()
        env.daemon.wait()
        env.daemon = None
        env.dlog.close()
        check(bool(rx.requests("/soc")) and bool(hec.events), "killed with a digest on the wire and a HEC ack pending")
        rx.delay = 0.05
        env.start_daemon()
        db_owed = lambda: env.db().execute(  # noqa: E731
            "SELECT count(*) FROM outbox WHERE sink = 'soc' AND members = 0").fetchone()[0]
        def drained():
            # One status read, and only one with sinks in it: before the
            # daemon answers, an empty set of sinks is not "all delivered".
            sinks = (env.status() or {}).get("sinks") or {}
            return sinks if sinks and all(v.get("queued") == 0 and v.get("in_flight") == 0
                                          for v in sinks.values()) else None

        st = wait_for(drained, timeout=90, what="everything delivered after the restart")
        check(bool(st), "after the restart every sink has everything (%s)" % st)
        owed = db_owed()
        by_key, by_body = {}, {}
        docs = []
        for _, h, b, status in rx.requests("/soc"):
            by_key.setdefault(h.get("Idempotency-Key"), set()).add(b)
            by_body.setdefault(b, set()).add(h.get("Idempotency-Key"))
            if status < 300:
                docs.append(json.loads(b))
        check(all(len(v) == 1 for v in by_key.values()), "webhook: a repeated key carries the same body")
        check(all(len(v) == 1 for v in by_body.values()), "webhook: no digest is sent under two keys")
        distinct = {d.get("id"): d for d in docs}.values()
        counted, _ = digest_members(distinct)
        check(counted == owed and any(d.get("schema") == "smtpwatch.digest/1" for d in distinct),
              "webhook: the digests delivered cover every notification once (%d of %d)" % (counted, owed))
        with hec.lock:
            keys = {}
            for _, h, b in hec.events:
                keys.setdefault(h.get("Idempotency-Key"), set()).add(b)
        check(all(len(v) == 1 for v in keys.values()), "hec: a resent event is the same bytes under its key")
        hst = (st or {}).get("hec", {})
        check(hst.get("delivered", 0) >= owed, "hec: everything acknowledged and delivered (%s)" % hst)
    finally:
        env.close()
        rx.stop()
        hec.stop()


def main():
    test_digest_takes_later()
    test_kill_mid_digest()
    test_hec_ack()
    test_digests()
    rx = Receiver(delay=0.5)
    env = Env("delivery", sinks="")
    senders = ["printer%02d@contoso.com" % i for i in range(N_SENDERS)]
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-40m", "every": "10s", "count": N_SENDERS, "user": senders, "ip": "198.51.100.20",
         "country": "NL", "error_code": 0}])
    with open(env.conf, "a") as f:
        f.write("[sink slow]\ntype = webhook\nurl = %s\nmax_in_flight = 4\ndigest_after = 0\n\n"
                "[sink capped]\ntype = webhook\nurl = %s\nrate = 6\ndigest_after = 0\n\n"
                "[sink down]\ntype = webhook\nurl = %s\ndigest_after = 0\n\n"
                "[sink teams]\ntype = teams\nurl = %s/hooks/teams/workflows/x\nrules = %s\ndigest_after = 0\n"
                % (rx.url("/slow"), rx.url("/capped"), rx.url("/down"), env.sim.url, RULE))
    rx.status["/down"] = 503
    env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 429, "retry_after": 25})
    try:
        started = time.monotonic()
        env.start_daemon()
        keys = wait_for(lambda: len(alert_keys(env)) >= N_SENDERS + 1 and alert_keys(env), timeout=60,
                        what="the alerts")
        check(len(keys) >= N_SENDERS + 1, "one alert per unregistered sender (%d)" % len(keys))

        # max_in_flight = 4 against a receiver that takes 0.5 s.
        done = wait_for(lambda: rx.delivered_keys("/slow") >= keys, timeout=60, what="the slow sink")
        check(bool(done), "the slow webhook got every alert (%d of %d)" % (len(rx.delivered_keys("/slow")), len(keys)))
        check(rx.peak.get("/slow") == 4, "the slow webhook had 4 requests in flight at once, never more (%s)"
              % rx.peak.get("/slow"))
        reqs = rx.requests("/slow")
        span = reqs[-1][0] - reqs[0][0] if reqs else 0
        check(len(reqs) == len(keys) and span < len(keys) * 0.5 / 2,
              "... %d requests in %.1f s, not %.1f s one at a time" % (len(reqs), span, len(keys) * 0.5))

        # rate = 6: the first minute holds 6 requests.
        wait_for(lambda: len(rx.requests("/capped")) >= 6, timeout=30, what="the capped sink's first requests")
        time.sleep(max(0, 20 - (time.monotonic() - started)))
        capped = rx.requests("/capped")
        first = capped[0][0] if capped else 0
        in_minute = [r for r in capped if r[0] - first < 59]
        check(len(in_minute) == 6, "rate = 6: 6 requests within the first minute (%d)" % len(in_minute))

        # The down sink: one probe at a time, a handful of them.
        down = rx.requests("/down")
        check(rx.peak.get("/down") == 1, "the sink answering 503 never had two requests at once (%s)"
              % rx.peak.get("/down"))
        check(1 <= len(down) <= 3, "... and was probed %d time(s) in %.0f s, not once per queued alert (%d)"
              % (len(down), time.monotonic() - started, len(keys)))
        st = (env.status() or {}).get("sinks", {}).get("down", {})
        check(st.get("queued") == len(keys) and st.get("last_error") == "HTTP 503",
              "status: every alert still queued for it, the last error HTTP 503 (%s)" % st)

        # Teams asked to wait 25 s.
        teams = env.sim.hooks("teams")
        check(len(teams) == 1, "teams got one request, answered 429 with Retry-After: 25 (%d)" % len(teams))
        env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 202, "body": ""})

        # The receiver comes back: everything arrives, each key once.
        rx.status["/down"] = 200
        got = wait_for(lambda: rx.delivered_keys("/down") >= keys, timeout=90, what="the sink back up")
        check(bool(got), "once it answers 200 the sink gets every alert (%d of %d)"
              % (len(rx.delivered_keys("/down")), len(keys)))
        ok = [h.get("Idempotency-Key") for _, h, _, s in rx.requests("/down") if s < 300]
        check(len(ok) == len(set(ok)), "... each Idempotency-Key accepted once (%d, %d distinct)"
              % (len(ok), len(set(ok))))
        check(rx.peak.get("/down", 0) <= 4, "... with at most max_in_flight at once (%s)" % rx.peak.get("/down"))

        teams = wait_for(lambda: len(env.sim.hooks("teams")) >= 2 and env.sim.hooks("teams"), timeout=60,
                         what="teams after the Retry-After")
        if teams and len(teams) >= 2:
            t0 = time.mktime(time.strptime(teams[0]["received_at"][:19], "%Y-%m-%dT%H:%M:%S"))
            t1 = time.mktime(time.strptime(teams[1]["received_at"][:19], "%Y-%m-%dT%H:%M:%S"))
            check(t1 - t0 >= 24, "teams: the next request came %d s later, after the Retry-After" % (t1 - t0))
        else:
            check(False, "teams got a request after the Retry-After")
    finally:
        env.close()
        rx.stop()
    finish()


if __name__ == "__main__":
    main()
