"""Alert delivery to every sink type, against real receivers on loopback:
the simulator's HTTP receivers (webhook with HMAC, Teams, Splunk HEC),
UNIX/UDP/TCP syslog sockets read frame by frame and checked against the
grammar of their form (syslog(3) on the unix socket, RFC 5424 over the
network, RFC 3164 where a sink asks for it), and the journal where a
journald runs.  Then the
guarantees: a stopped receiver and a daemon restart (and a kill in the
middle of a send) lose nothing, duplicates carry the same Idempotency-Key
and the same bytes, and an alert that goes dead raises delivery-dead on
every other sink but never on the dead one."""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, SyslogSink, check, finish, wait_for  # noqa: E402

RULE = "unapproved-basic-auth-submission"
HMAC_KEY = b"k3y-for-the-soc-webhook\x01binary"
HEC_TOKEN = "11111111-2222-3333-4444-555555555555"
TEAMS_SIG = "sig=S3CR3T-TEAMS-SIGNATURE"
AUTHPRIV = 10
SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}

# RFC 5424 (section 6) for the frames smtpwatch sends: one SD-ELEMENT, ours.
SD_PARAM = r'[^= \]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*"'
RFC5424 = re.compile(
    r'^<(?P<pri>[0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>1 '
    r'(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) '
    r'(?P<host>[!-~]{1,255}) (?P<app>smtpwatch) (?P<procid>-) (?P<msgid>[!-~]{1,32}) '
    r'\[(?P<sdid>[^= \]"]{1,32})(?P<params>(?: ' + SD_PARAM + r')+)\]'
    r'(?: (?P<msg>.*))?$', re.S)
# What syslog(3) writes on /dev/log (and, with HOST, RFC 3164): the alert's
# fields as key=value after the message, quoted where needed.
LOCAL = re.compile(
    r'^<(?P<pri>[0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>'
    r'(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3][0-9] \d\d:\d\d:\d\d) '
    r'(?:(?P<host>[!-~]{1,255}) )?smtpwatch\[(?P<pid>[0-9]+)\]: (?P<msg>.*)$', re.S)
KV = r' ([a-z_]+)=("(?:[^"\\]|\\["\\])*"|[^ "=]+)'


def parse_local(frame):
    """A syslog(3) / RFC 3164 frame: fields, the message before the
    key=value part and the key=value pairs, unquoted; None if it breaks
    the grammar."""
    m = LOCAL.match(frame)
    if not m:
        return None
    msg = m.group("msg")
    kv = re.search(r'((?:' + KV + r')+)$', msg)
    if not kv:
        return None
    fields = {}
    for k, v in re.findall(KV, kv.group(1)):
        fields[k] = re.sub(r'\\(["\\])', r"\1", v[1:-1]) if v.startswith('"') else v
    return {"pri": int(m.group("pri")), "host": m.group("host"), "pid": int(m.group("pid")),
            "msg": msg[:kv.start()], "fields": fields}


def parse_5424(frame):
    """The frame's fields and its SD params, unescaped; None if it breaks the grammar."""
    m = RFC5424.match(frame)
    if not m:
        return None
    params = {}
    for name, value in re.findall(r' ([^= \]"]{1,32})="((?:[^"\\\]]|\\["\\\]])*)"', m.group("params")):
        params[name] = re.sub(r'\\(["\\\]])', r"\1", value)
    return {"pri": int(m.group("pri")), "msgid": m.group("msgid"), "sdid": m.group("sdid"), "params": params,
            "msg": m.group("msg") or ""}


def secret_file(env, name, data, mode=0o600):
    path = os.path.join(env.dir, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


class TcpSyslog:
    """A syslog receiver on TCP reading RFC 6587 octet-counted frames
    ("LEN SP MSG"); stop() closes it as a crashed receiver would, start()
    listens on the same port again."""

    def __init__(self):
        self.port = None
        self.frames = []
        self.errors = []
        self.lock = threading.Lock()
        self.sock = None
        self.start()

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.conns = []
        self.running = True
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def _accept(self, lsock):
        while self.running:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                m = re.match(rb"([1-9][0-9]*) ", buf)
                if not m:
                    if buf and not re.match(rb"[0-9]*$", buf):
                        self.errors.append(buf[:80])
                        buf = b""
                    break
                n = int(m.group(1))
                if len(buf) < m.end() + n:
                    break
                with self.lock:
                    self.frames.append(buf[m.end():m.end() + n].decode("utf-8"))
                buf = buf[m.end() + n:]

    def stop(self):
        self.running = False
        # shutdown() wakes the thread blocked in accept(); a bare close()
        # would leave the socket listening until the next connection.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def got(self):
        with self.lock:
            return list(self.frames)


class UdpSyslog:
    """A syslog receiver on UDP: one datagram, one message."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.frames = []

    def drain(self):
        while True:
            try:
                self.frames.append(self.sock.recv(65536).decode("utf-8"))
            except (socket.timeout, BlockingIOError):
                return self.frames

    def close(self):
        self.sock.close()


def sink_status(env, name):
    s = env.status()
    return (s or {}).get("sinks", {}).get(name)


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


def by_subject(hooks, subject):
    out = []
    for h in hooks:
        try:
            docs = hec_events(h["body"])
        except ValueError:
            continue
        for doc in docs:
            ev = doc.get("event", doc) if isinstance(doc, dict) else None
            if isinstance(ev, dict) and ev.get("subject") == subject:
                out.append((h, ev))
    return out


def teams_card_ok(body):
    """Check a Teams body against the Workflows message + Adaptive Card 1.4
    shape; return (problems, facts, texts)."""
    problems, facts, texts = [], {}, []
    try:
        msg = json.loads(body)
    except ValueError as e:
        return ["not JSON: %s" % e], facts, texts
    if msg.get("type") != "message":
        problems.append("type is not message")
    atts = msg.get("attachments")
    if not isinstance(atts, list) or len(atts) != 1:
        return problems + ["not exactly one attachment"], facts, texts
    att = atts[0]
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append("contentType %r" % att.get("contentType"))
    if "contentUrl" not in att or att["contentUrl"] is not None:
        problems.append("contentUrl is not null")
    card = att.get("content") or {}
    if card.get("type") != "AdaptiveCard":
        problems.append("content is not an AdaptiveCard")
    v = card.get("version", "")
    if not re.match(r"^1\.[0-4]$", v):
        problems.append("card version %r is not 1.0..1.4" % v)
    allowed = {"TextBlock": {"type", "text", "wrap", "weight", "size", "color", "isSubtle", "spacing",
                             "separator", "fontType"},
               "Container": {"type", "items", "style", "bleed", "spacing", "separator"},
               "FactSet": {"type", "facts"}}
    colors = {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"}
    styles = {"default", "emphasis", "good", "attention", "warning", "accent"}

    def walk(items):
        for el in items:
            t = el.get("type")
            if t not in allowed:
                problems.append("element %r" % t)
                continue
            extra = set(el) - allowed[t]
            if extra:
                problems.append("%s has %s" % (t, sorted(extra)))
            if t == "TextBlock":
                if not isinstance(el.get("text"), str):
                    problems.append("TextBlock without text")
                if "color" in el and el["color"] not in colors:
                    problems.append("color %r" % el["color"])
                texts.append((el.get("text"), el.get("color"), el.get("fontType")))
            elif t == "Container":
                if el.get("style", "default") not in styles:
                    problems.append("style %r" % el.get("style"))
                walk(el.get("items") or [])
            else:
                for f in el.get("facts") or []:
                    if set(f) != {"title", "value"} or not all(isinstance(x, str) for x in f.values()):
                        problems.append("fact %r" % f)
                    else:
                        facts[f["title"]] = f["value"]

    walk(card.get("body") or [])
    return problems, facts, texts


def test_every_sink(env):
    """One alert reaches each sink type in its own format."""
    env.start_daemon()
    hooks = wait_for(lambda: by_subject(env.sim.hooks("soc"), "scanner2@contoso.com"), timeout=60,
                     what="webhook delivery")
    check(len(hooks) == 1, "the webhook received the alert once (%d)" % len(hooks))
    if not hooks:
        print(env.log_text())
        return None
    h, doc = hooks[0]
    check(doc["rule"] == RULE and doc["severity"] == "high", "webhook: the SPEC alert document")
    check(h["headers"].get("idempotency-key") == "%s-%d" % (doc["id"], doc["transition"]),
          "webhook: Idempotency-Key is id-transition (%s)" % h["headers"].get("idempotency-key"))
    sig = h["headers"].get("x-smtpwatch-signature", "")
    want = "sha256=" + hmac.new(HMAC_KEY, h["body"].encode("utf-8"), hashlib.sha256).hexdigest()
    check(sig == want, "webhook: X-Smtpwatch-Signature is HMAC-SHA256 of the exact body (%s)" % sig[:20])
    if shutil.which("openssl"):
        p = subprocess.run(["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt",
                            "hexkey:" + HMAC_KEY.hex()], input=h["body"].encode("utf-8"),
                           capture_output=True, timeout=10)
        check(p.returncode == 0 and p.stdout.decode().strip().endswith(sig[len("sha256="):]),
              "webhook: openssl dgst agrees with the signature")
    tampered = h["body"].replace("scanner2", "scanner9").encode()
    check(sig != "sha256=" + hmac.new(HMAC_KEY, tampered, hashlib.sha256).hexdigest(),
          "webhook: a changed body does not verify")

    # Teams: the Workflows answer is 202 with an empty body, still success.
    teams = wait_for(lambda: env.sim.hooks("teams"), timeout=30, what="teams delivery")
    check(len(teams) == 1, "teams received one card (%d)" % len(teams))
    if teams:
        t = teams[0]
        check(t["status"] == 202, "teams: the receiver answered 202 (%s)" % t["status"])
        check(t["path"].endswith("/workflows/abc?" + TEAMS_SIG), "teams: posted to the url from url_file")
        problems, facts, texts = teams_card_ok(t["body"])
        check(not problems, "teams: the body has the message + Adaptive Card 1.4 shape %s" % problems)
        check(facts.get("Tenant") == "contoso" and facts.get("Subject") == "scanner2@contoso.com",
              "teams: tenant and subject facts")
        check(facts.get("Count") == "5" and facts.get("Severity") == "high", "teams: count and severity facts")
        check("198.51.100.7" in facts.get("IP addresses", ""), "teams: evidence as a fact set")
        check(any(c == "Attention" and RULE in (x or "") for x, c, _ in texts), "teams: a red header naming the rule")
        check(any(f == "Monospace" and "Set-CASMailbox -Identity 'scanner2@contoso.com'" in x for x, _, f in texts),
              "teams: remediation in a monospace block")
        check(t["headers"].get("idempotency-key") == "%s-1" % doc["id"], "teams: Idempotency-Key too")
    st = sink_status(env, "teams")
    check(st and st["delivered"] == 1 and st["queued"] == 0 and st["last_error"] is None,
          "status: teams delivered 1, nothing queued (%s)" % st)

    # Splunk HEC
    hec = wait_for(lambda: env.sim.hooks("hec"), timeout=30, what="hec delivery")
    check(len(hec) == 1, "hec received one event (%d)" % len(hec))
    if hec:
        e = hec[0]
        check(e["path"].endswith("/services/collector/event"), "hec: POST .../services/collector/event (%s)"
              % e["path"])
        check(e["headers"].get("authorization") == "Splunk " + HEC_TOKEN, "hec: Authorization: Splunk TOKEN")
        check(re.match(r'^\{"time":\d{10}\.\d{3},"host":"[^"]+","source":"smtpwatch",'
                       r'"sourcetype":"smtpwatch:alert","event":\{', e["body"]) is not None,
              "hec: envelope time (EPOCH.MS), host, source, sourcetype, event (%s)" % e["body"][:100])
        env_doc = hec_events(e["body"])[0]
        check(env_doc["event"] == doc, "hec: the event is the alert document")
        check(abs(env_doc["time"] - time.time()) < 600, "hec: time is the transition's time")
    st = sink_status(env, "hec")
    check(st and st["delivered"] == 1 and st["last_error"] is None, "status: hec delivered (%s)" % st)

    # Syslog over a unix socket (format = auto: the syslog(3) form), UDP and
    # TCP (octet counting; RFC 5424).
    want = {"id": doc["id"], "rule": RULE, "severity": "high", "tenant": "contoso",
            "subject": "scanner2@contoso.com", "status": "firing", "count": str(doc["count"]),
            "first_seen": doc["first_seen"], "last_seen": doc["last_seen"],
            "src_ip": ",".join(doc["evidence"]["ips"]), "country": ",".join(doc["evidence"]["countries"])}
    got = wait_for(lambda: env.syslog.drain(), timeout=15, what="local syslog frame")
    check(len(got) == 1, "syslog local: one frame (%d)" % len(got))
    if got:
        f = parse_local(got[0])
        check(f is not None, "syslog local: the frame is what syslog(3) writes (%s)" % got[0][:120])
        if f:
            check(f["pri"] == AUTHPRIV * 8 + SEVERITY["high"], "syslog local: PRI authpriv.err = 83")
            check(f["host"] is None and f["pid"] == env.daemon.pid,
                  "syslog local: no host, the tag is smtpwatch[%d] (%s)" % (env.daemon.pid, got[0][:60]))
            check(f["msg"].startswith("[firing] scanner2@contoso.com sent"), "syslog local: MESSAGE is the summary")
            check(f["fields"] == want, "syslog local: the key fields (%s)" % f["fields"])
    for name, frames in (("udp", lambda: env.udp.drain()), ("tcp", lambda: env.tcp.got())):
        got = wait_for(frames, timeout=15, what="%s syslog frame" % name)
        check(len(got) == 1, "syslog %s: one frame (%d)" % (name, len(got)))
        if not got:
            continue
        f = parse_5424(got[0])
        check(f is not None, "syslog %s: the frame matches the RFC 5424 grammar (%s)" % (name, got[0][:120]))
        if f:
            check(f["pri"] == AUTHPRIV * 8 + SEVERITY["high"], "syslog %s: PRI authpriv.err = 83" % name)
            check(f["msgid"] == RULE, "syslog %s: MSGID is the rule" % name)
            p = f["params"]
            check(f["sdid"] == "smtpwatch@0", "syslog %s: SD-ID smtpwatch@0 (%s)" % (name, f["sdid"]))
            check(p == want, "syslog %s: SD id, rule, severity, tenant, subject, status, count, first_seen, "
                  "last_seen, src_ip, country (%s)" % (name, p))
            check("scanner2@contoso.com sent" in f["msg"], "syslog %s: MSG is the summary" % name)
    check(not env.tcp.errors, "tcp: every byte belonged to an octet-counted frame (%s)" % env.tcp.errors)

    # The journal: only where a journald runs.
    st = sink_status(env, "journal")
    if os.path.exists("/run/systemd/journal/socket") and shutil.which("journalctl"):
        out = wait_for(lambda: subprocess.run(
            ["journalctl", "-o", "json", "--no-pager", "MESSAGE_ID=4c96a5be3a8e42d5ae32a7a9ba04a554",
             "SMTPWATCH_ID=" + doc["id"]], capture_output=True, text=True, timeout=20).stdout.strip(),
            timeout=20, what="journal entry")
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        check(len(entries) >= 1, "journal: the entry is found by MESSAGE_ID and SMTPWATCH_ID")
        if entries:
            j = entries[-1]
            check(j.get("PRIORITY") == "3" and j.get("SMTPWATCH_RULE") == RULE
                  and j.get("SMTPWATCH_SUBJECT") == "scanner2@contoso.com"
                  and j.get("SMTPWATCH_EVIDENCE_IPS") in ("198.51.100.7", ["198.51.100.7"]),
                  "journal: PRIORITY and SMTPWATCH_* fields")
    else:
        print("# skip journal delivery check: no journald here (/run/systemd/journal/socket missing); "
              "the fields are unit-tested in test_render", flush=True)
        st = wait_for(lambda: (sink_status(env, "journal") or {}).get("failed", 0) >= 1 and sink_status(env, "journal"),
                      timeout=15, what="journal attempt")
        check(st and st["queued"] == 1 and st["delivered"] == 0 and "journald is not running" in (st["last_error"] or ""),
              "status: the journal sink keeps its alert queued and shows why (%s)" % st)
    return doc


def test_secrets(env):
    rc, table = env.ctl("status", json_out=False)
    _, js = env.ctl("status")
    text = env.log_text() + table + json.dumps(js)
    check(rc == 0 and "teams" in table and "hec" in table, "the status table lists the sinks")
    check(TEAMS_SIG not in text and "S3CR3T" not in text, "the Teams URL's signature is in no log or status")
    check(HEC_TOKEN not in text, "the HEC token is in no log or status")
    check(HMAC_KEY.decode("latin-1") not in text, "the HMAC key is in no log or status")


def test_hec_token_error(env):
    """A rejected HEC token is a sink failure in status; fixing it delivers."""
    env.sim.request("POST", "/_sim/hooks/hec/status", {"status": 403})
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-5m", "user": "scanner3@contoso.com", "ip": "198.51.100.8", "country": "NL",
         "error_code": 0, "count": 2, "every": "30s"}])
    env.ctl("poll")
    st = wait_for(lambda: ((sink_status(env, "hec") or {}).get("last_error") or "").startswith("token rejected")
                  and sink_status(env, "hec"), timeout=60, what="hec token error in status")
    check(bool(st), "status: hec shows the token error (%s)" % sink_status(env, "hec"))
    if st:
        check("Invalid token" in st["last_error"] and "code 4" in st["last_error"],
              "status: HEC's own text and code (%s)" % st["last_error"])
        check(st["queued"] == 1 and st["failed"] >= 1, "status: the event stays queued (%s)" % st)
    soc = wait_for(lambda: by_subject(env.sim.hooks("soc"), "scanner3@contoso.com"), timeout=30)
    check(len(soc) == 1, "meanwhile the webhook got the alert at once")
    env.sim.request("POST", "/_sim/hooks/hec/status", {"status": 200})
    got = wait_for(lambda: by_subject([h for h in env.sim.hooks("hec") if h["status"] == 200],
                                      "scanner3@contoso.com"), timeout=40, what="hec after the token fix")
    check(len(got) == 1, "after the fix the queued event arrives (back-off 10 s)")
    st = sink_status(env, "hec")
    check(st and st["queued"] == 0 and st["delivered"] == 2, "status: hec queue empty, 2 delivered (%s)" % st)


def outbox_keys(env, sink):
    with env.db() as db:
        return {("%s-%d" % (a, t)) for a, t in db.execute(
            "SELECT alert_id, transition FROM outbox WHERE sink = ?", (sink,))}


def test_outage_and_restart(env):
    """The webhook answers 503 and the TCP syslog receiver is down while
    three new alerts fire; the daemon restarts in between; once both come
    back every alert arrives, duplicates only with the same key and body."""
    failed0 = sink_status(env, "soc")["failed"]
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 503})
    env.tcp.stop()
    users = ["printer%d@contoso.com" % i for i in range(3)]
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-4m", "user": u, "ip": "198.51.100.%d" % (20 + i), "country": "DE", "error_code": 0,
         "count": 1} for i, u in enumerate(users)])
    env.ctl("poll")
    st = wait_for(lambda: (sink_status(env, "soc") or {}).get("queued", 0) >= 3
                  and (sink_status(env, "tcp") or {}).get("queued", 0) >= 3
                  and (sink_status(env, "soc") or {}).get("failed", 0) >= failed0 + 3 and sink_status(env, "soc"),
                  timeout=60, what="three queued, failing alerts")
    check(bool(st), "status: the webhook shows 3 queued and failed attempts (%s)" % sink_status(env, "soc"))
    tcp = sink_status(env, "tcp")
    check(tcp and tcp["queued"] >= 3 and "refused" in (tcp["last_error"] or ""),
          "status: tcp syslog queued, last error says the connection was refused (%s)" % tcp)
    check(st and st["last_error"] == "HTTP 503", "status: webhook last error HTTP 503")
    other = sink_status(env, "local")
    check(other and other["queued"] == 0, "the unix syslog sink is not held up by the others (%s)" % other)

    rc = env.stop_daemon()
    check(rc == 0, "the daemon stops cleanly with deliveries pending (%s)" % rc)
    env.start_daemon()
    env.sim.request("POST", "/_sim/hooks/soc/status", {"status": 200})
    env.tcp.start()
    done = wait_for(lambda: (sink_status(env, "soc") or {}).get("queued") == 0
                    and (sink_status(env, "tcp") or {}).get("queued") == 0, timeout=90,
                    what="queues to drain after the restart")
    check(bool(done), "after the restart both queues drain (%s / %s)" % (sink_status(env, "soc"),
                                                                        sink_status(env, "tcp")))
    check_exactly_once(env)
    frames = env.tcp.got()
    ids = {parse_5424(f)["params"].get("id") for f in frames if parse_5424(f)}
    with env.db() as db:
        want = {a for (a,) in db.execute("SELECT alert_id FROM outbox WHERE sink = 'tcp'")}
    check(want <= ids, "tcp syslog: every alert arrived (%d of %d)" % (len(want & ids), len(want)))
    check(all(parse_5424(f) for f in frames), "tcp syslog: every frame after the reconnect is RFC 5424")


def check_exactly_once(env):
    """Every outbox row of the webhook arrived; a key seen twice carried the same body."""
    want = outbox_keys(env, "soc")
    seen = {}
    dup_ok = True
    for h in env.sim.hooks("soc"):
        if h["status"] != 200:
            continue
        k = h["headers"].get("idempotency-key")
        if k in seen and seen[k] != h["body"]:
            dup_ok = False
        seen[k] = h["body"]
    missing = want - set(seen)
    check(not missing, "webhook: no gap, every alert transition arrived (%d expected, missing %s)"
          % (len(want), sorted(missing)))
    check(set(seen) <= want, "webhook: nothing arrived that was not queued")
    check(dup_ok, "webhook: a duplicate carries the same Idempotency-Key and the same bytes")
    return seen


def test_kill_mid_send(env):
    """SIGKILL while the receiver holds a request: the item is sent again
    after the restart with the same key and bytes."""
    env.sim.faults([{"endpoint": "hooks", "hook": "soc", "delay_ms": 8000, "count": 1}])
    env.sim.add_signins("contoso.onmicrosoft.com", [
        {"at": "-3m", "user": "fax@contoso.com", "ip": "198.51.100.40", "country": "FR", "error_code": 0}])
    env.ctl("poll")
    first = wait_for(lambda: by_subject(env.sim.hooks("soc"), "fax@contoso.com"), timeout=60,
                     what="the held request")
    check(len(first) == 1, "the receiver holds the first request")
    env.daemon.send_signal(signal.SIGKILL)
    env.daemon.wait(10)
    env.daemon = None
    env.dlog.close()
    env.start_daemon()
    got = wait_for(lambda: len(by_subject(env.sim.hooks("soc"), "fax@contoso.com")) >= 2
                   and by_subject(env.sim.hooks("soc"), "fax@contoso.com"), timeout=40, what="the resend")
    check(bool(got) and len(got) == 2, "after the kill the alert is sent again (%d)" % len(got or []))
    if got and len(got) == 2:
        (a, _), (b, _) = got
        check(a["headers"]["idempotency-key"] == b["headers"]["idempotency-key"] and a["body"] == b["body"],
              "the duplicate has the same Idempotency-Key and body")
    wait_for(lambda: (sink_status(env, "soc") or {}).get("queued") == 0, timeout=20)
    check_exactly_once(env)


def test_dead_letter():
    """dead_after passes while a sink fails: the alert is dead, the other
    sinks get delivery-dead, the dead sink never does, and its next success
    resolves it."""
    env = Env("sinks-dead", extra_conf="dead_after = 5s")
    udp = UdpSyslog()
    try:
        conf = open(env.conf).read()
        conf = re.sub(r"\[sink soc\].*", "", conf, flags=re.S)
        conf += ("[sink dead]\ntype = webhook\nurl = %s/hooks/dead\n\n"
                 "[sink peer]\ntype = webhook\nurl = %s/hooks/peer\nrules = delivery-dead\n\n"
                 "[sink local]\ntype = syslog\naddress = unix:%s\nformat = rfc5424\nsd_id = alerts@99999.7\n\n"
                 "[sink old]\ntype = syslog\naddress = udp://127.0.0.1:%d\nformat = rfc3164\nfacility = local3\n"
                 % (env.sim.url, env.sim.url, env.syslog_path, udp.port))
        with open(env.conf, "w") as f:
            f.write(conf)
        env.syslog = SyslogSink(env.syslog_path)
        env.sim.request("POST", "/_sim/hooks/dead/status", {"status": 500})
        env.start_daemon()
        peer = wait_for(lambda: [json.loads(h["body"]) for h in env.sim.hooks("peer")], timeout=60,
                        what="delivery-dead on the peer sink")
        check(len(peer) == 1, "the peer sink got one delivery-dead alert (%d)" % len(peer))
        st = sink_status(env, "dead")
        check(st and st["dead"] == 1 and st["queued"] == 0 and st["failed"] >= 2,
              "status: the failing sink shows 1 dead, 0 queued (%s)" % st)
        if peer:
            d = peer[0]
            lost = json.loads(env.sim.hooks("dead")[0]["body"])
            check(d["rule"] == "delivery-dead" and d["severity"] == "high" and d["subject"] == "dead"
                  and d["status"] == "firing", "delivery-dead, high, subject = the sink's name")
            check(lost["id"] in d["evidence"].get("alert_ids", []), "its evidence names the lost alert")
            check("HTTP 500" in d["summary"] and d["tenant"] == "contoso", "its summary says why (%s)" % d["summary"])
        frames = wait_for(lambda: [f for f in env.syslog.drain() if "delivery-dead" in f], timeout=15)
        check(len(frames) == 1 and parse_5424(frames[0]) is not None,
              "syslog got delivery-dead too, RFC 5424 on the unix socket as format = rfc5424 says")
        if frames and parse_5424(frames[0]):
            check(parse_5424(frames[0])["sdid"] == "alerts@99999.7", "the SD-ID is sd_id's")
        frames = wait_for(lambda: [f for f in udp.drain() if "rule=delivery-dead" in f], timeout=15)
        f = parse_local(frames[0]) if frames else None
        check(f is not None and f["host"] is not None and f["pid"] == env.daemon.pid,
              "format = rfc3164 over udp: RFC 3164 with HOST and smtpwatch[PID] (%s)" % frames[:1])
        if f:
            check(f["pri"] == 19 * 8 + SEVERITY["high"] and f["fields"].get("subject") == "dead",
                  "rfc3164: PRI local3.err, the fields (%s)" % f)

        env.sim.request("POST", "/_sim/hooks/dead/status", {"status": 200})
        env.sim.add_signins("contoso.onmicrosoft.com", [
            {"at": "-3m", "user": "late@contoso.com", "ip": "198.51.100.50", "country": "NL", "error_code": 0}])
        env.ctl("poll")
        res = wait_for(lambda: [json.loads(h["body"]) for h in env.sim.hooks("peer")
                                if '"status":"resolved"' in h["body"]], timeout=40, what="resolution")
        check(len(res) == 1 and res[0]["rule"] == "delivery-dead",
              "the sink's next success resolves delivery-dead on the peer")
        ok = [json.loads(h["body"]) for h in env.sim.hooks("dead") if h["status"] == 200]
        check(any(d["subject"] == "late@contoso.com" for d in ok), "the recovered sink gets new alerts")
        check(not any("delivery-dead" in h["body"] for h in env.sim.hooks("dead")),
              "the dead sink never gets its own delivery-dead alert")
        with env.db() as db:
            n = db.execute("SELECT count(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "
                           "WHERE o.sink = 'dead' AND a.rule = 'delivery-dead'").fetchone()[0]
        check(n == 0, "no outbox row of delivery-dead for the dead sink (%d)" % n)
        log = env.log_text()
        check("is dead after" in log and "delivery-dead" in log, "the log says the alert is dead")
    finally:
        env.syslog.close()
        udp.close()
        env.close()


def main():
    env = Env("sinks", sinks="")
    env.tcp = TcpSyslog()
    env.udp = UdpSyslog()
    env.syslog = SyslogSink(env.syslog_path)
    key = secret_file(env, "soc.key", HMAC_KEY)
    url = secret_file(env, "teams.url", "%s/hooks/teams/workflows/abc?%s\n" % (env.sim.url, TEAMS_SIG))
    tok = secret_file(env, "hec.token", HEC_TOKEN + "\n")
    with open(env.conf, "a") as f:
        f.write("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nhmac_key_file = %s\n\n"
                "[sink teams]\ntype = teams\nurl_file = %s\nmin_severity = high\n\n"
                "[sink hec]\ntype = splunk-hec\nurl = %s/hooks/hec\ntoken_file = %s\n\n"
                "[sink local]\ntype = syslog\naddress = unix:%s\nfacility = authpriv\n\n"
                "[sink udp]\ntype = syslog\naddress = udp://127.0.0.1:%d\n\n"
                "[sink tcp]\ntype = syslog\naddress = tcp://127.0.0.1:%d\n\n"
                "[sink journal]\ntype = journal\n"
                % (env.sim.url, key, url, env.sim.url, tok, env.syslog_path, env.udp.port, env.tcp.port))
    env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 202, "body": ""})
    try:
        if test_every_sink(env):
            test_secrets(env)
            test_hec_token_error(env)
            test_outage_and_restart(env)
            test_kill_mid_send(env)
    finally:
        env.syslog.close()
        env.udp.close()
        env.tcp.stop()
        env.close()
    test_dead_letter()
    finish()


if __name__ == "__main__":
    main()
