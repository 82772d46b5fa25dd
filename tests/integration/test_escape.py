"""Hostile text travels through every destination escaped for it (issue
21, finding 7): a mailbox name from Microsoft's sign-ins and a note from a
socket member, both carrying a forged journal line ("\\n<13>fake"), a
terminal sequence (ESC [2J, and the C1 CSI) and a markdown link, reach

  - the log (as a journal stream, "<N>" per line): one line each, escaped;
  - smtpwatchctl's tables and answers: no ESC, no C0 or C1 control byte;
  - the Teams card: no markdown link, image or emphasis renders;
  - the remediation: -Identity is one PowerShell single-quoted string.

And the readiness report as CSV (finding 19) writes no cell a spreadsheet
would take for a formula; and a HEC endpoint that echoes the token (and
the client secret) in its error text gets neither into status nor the log
(finding 16)."""

import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SECRET, Env, check, finish, wait_for  # noqa: E402

RULE = "unapproved-basic-auth-submission"
TENANT = "contoso.onmicrosoft.com"
# Sign-ins keep user names in lower case.
EVIL = "evil\n<13>fake \x1b[2J\u009b[click](https://evil.example/x) o'brien@contoso.com"
NOTE = "noted\n<13>forged note \x1b]0;pwned\x07 [x](https://evil.example)"
TEAMS_SIG = "sig=ESCAPE-TEST-SIG"


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


def controls(text):
    """The control bytes a terminal acts on: C0 but LF, DEL, C1 (as code points)."""
    return sorted({"%02x" % ord(c) for c in text
                   if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f})


def terminal_safe(what, text):
    bad = controls(text)
    check(not bad, "%s: no control byte reaches the terminal (%s)" % (what, bad))
    forged = [ln for ln in text.split("\n") if ln.lstrip().startswith("<13>")]
    check(not forged, "%s: no line of its own for the forged text (%s)" % (what, forged[:2]))


def find_alert(env):
    rc, data = env.ctl("alerts")
    for a in (data["alerts"] if rc == 0 else []):
        if a["rule"] == RULE and "<13>fake" in a["subject"]:
            return a
    return None


def teams_texts(card_body):
    """Every text a reader of the card sees: TextBlocks and facts."""
    out = []
    msg = json.loads(card_body)
    card = msg["attachments"][0]["content"]
    out.append(card.get("fallbackText", ""))

    def walk(items):
        for el in items:
            if el.get("type") == "TextBlock":
                out.append(el["text"])
            elif el.get("type") == "Container":
                walk(el.get("items") or [])
            elif el.get("type") == "FactSet":
                for f in el.get("facts") or []:
                    out.extend([f["title"], f["value"]])
    walk(card.get("body") or [])
    return out


def unescaped(text, ch):
    """Is ch in text without a backslash before it?"""
    return re.search(r"(?<!\\)" + re.escape(ch), text) is not None


def test_log(env):
    log = env.log_text()
    lines = [ln for ln in log.split("\n") if ln]
    odd = [ln for ln in lines if not re.match(r"^<[0-7]>", ln)]
    check(not odd, "log: every line is one journal record with its own priority (%s)" % odd[:3])
    check(not any(ln.startswith("<13>") for ln in lines), "log: no forged <13> record")
    check(not any("\x1b" in ln or "\x07" in ln for ln in lines), "log: no ESC or BEL in any line")
    acked = [ln for ln in lines if "acknowledged by uid" in ln]
    check(any("noted\\x0a<13>forged note \\x1b]0;pwned\\x07" in ln for ln in acked),
          "log: the ack note is on the ack line, escaped (%s)" % acked[:1])
    silenced = [ln for ln in lines if "silence set by" in ln]
    check(any("evil\\x0a<13>fake \\x1b[2j\\x9b[click]" in ln for ln in silenced),
          "log: the silenced subject is on the silence line, escaped (%s)" % silenced[:1])


def test_ctl(env, alert):
    aid = alert["id"]
    outputs = {}
    for what, args in [("alerts", ["alerts"]), ("alert", ["alert", aid]), ("mailbox", ["mailbox", alert["subject"]]),
                       ("ack", ["ack", aid, "--note", NOTE]),
                       ("silence", ["silence", RULE, alert["subject"], "--for", "1h", "--note", NOTE]),
                       ("silence list", ["silence"]), ("status", ["status"])]:
        rc, out = env.ctl(*args, json_out=False)
        outputs[what] = out
        check(rc == 0, "ctl %s answers (%d)" % (what, rc))
        terminal_safe("ctl " + what, out)
    check("\\x1b[2j" in outputs["alert"] and "evil\\x0a<13>fake" in outputs["alert"],
          "ctl alert: the subject is shown, escaped visibly")
    check("noted\\x0a<13>forged note" in outputs["ack"], "ctl ack: the note is shown escaped")

    # The error path: the daemon quotes the id it was given.
    rc, out = env.ctl("ack", "a-\x1b[2J\nnope", json_out=False)
    check(rc != 0, "ctl ack of an unknown id fails")
    terminal_safe("ctl ack error", out)

    # --json: the same data, still no raw control byte (C1 as \u escapes).
    rc, out = env.ctl("--json", "alert", aid, json_out=False)
    terminal_safe("ctl --json alert", out)
    check(rc == 0 and json.loads(out)["subject"] == alert["subject"], "ctl --json: the subject round-trips")

    # import-report: a file name and a rejected row with escape sequences.
    path = os.path.join(env.dir, "evil\x1b[2J\n.csv")
    with open(path, "w") as f:
        f.write("Date,Sender address,Messages sent,Authentication protocol\n"
                "%s,good@contoso.com,3,OAuth\n"
                "%s,bad\x1b[31m\u009b@contoso.com,x\x1b[2J,Basic\n" % (day(-1), day(-1)))
    rc, out = env.ctl("import-report", "contoso", path, json_out=False)
    check(rc == 0, "ctl import-report answers (%d: %s)" % (rc, out[-200:]))
    terminal_safe("ctl import-report", out)


def test_teams_and_remediation(env):
    cards = wait_for(lambda: [h for h in env.sim.hooks("teams") if "fake" in h["body"]], timeout=60,
                     what="the Teams card")
    check(len(cards) >= 1, "teams: the card arrived")
    if cards:
        texts = teams_texts(cards[0]["body"])
        joined = "\n".join(texts)
        check(not any(unescaped(t, "](") or unescaped(t, "[") or unescaped(t, "*") for t in texts),
              "teams: no unescaped [ ]( or * in any text: no link or emphasis renders")
        check("\\[click\\]\\(https\\://evil.example/x\\)" in joined, "teams: the name is shown, escaped")
        check(not any(controls(t) or "\n" in t for t in texts), "teams: no control byte or new line in the card text")
    hooks = wait_for(lambda: [json.loads(h["body"]) for h in env.sim.hooks("soc") if "fake" in h["body"]],
                     timeout=30, what="the webhook document")
    rem = hooks[0].get("remediation", "") if hooks else ""
    want = ("Set-CASMailbox -Identity 'evil?<13>fake ?[2j?[click](https://evil.example/x) o''brien@contoso.com' "
            "-SmtpClientAuthenticationDisabled $true")
    check(rem == want, "remediation: -Identity single-quoted, ' doubled, controls as ? (%r)" % rem)


def test_report_csv(env):
    """Finding 19: cells beginning with = + - @ are prefixed with ' and quoted."""
    spool_csv = os.path.join(env.dir, "formulas.csv")
    with open(spool_csv, "w") as f:
        f.write("Date,Sender address,Messages sent,Authentication protocol\n"
                "%s,=HYPERLINK(1)@contoso.com,4,Basic\n"
                "%s,+cmd@contoso.com,2,Basic\n"
                "%s,-2+3@contoso.com,2,Basic\n"
                "%s,scanner-hq@contoso.com,2,Basic\n" % (day(-2), day(-2), day(-2), day(-2)))
    rc, out = env.ctl("import-report", "contoso", spool_csv, json_out=False)
    check(rc == 0, "import of the formula senders (%d: %s)" % (rc, out[-300:]))
    rc, csv = env.ctl("report", "--format", "csv", json_out=False)
    check(rc == 0, "report --format csv answers")
    cells = []
    for line in csv.splitlines():
        # A simple RFC 4180 split is enough for these rows.
        cells.extend(m.group(1) if m.group(1) is not None else m.group(2)
                     for m in re.finditer(r'(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))', line))
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    check(not risky, "csv: no cell begins with = + - @ TAB or CR (%s)" % risky[:4])
    for s in ("'=hyperlink(1)@contoso.com", "'+cmd@contoso.com",
              "'-2+3@contoso.com", "'@SUM(1+1)"):
        check('"%s"' % s in csv, "csv: %s is quoted and prefixed with '" % s[:12])
    terminal_safe("ctl report --format csv", csv.replace("\r\n", "\n"))


HEC_TOKEN = "5f0c4e2a-9d1b-4c3e-8a7f-token-echo-test"


class EchoHEC(http.server.BaseHTTPRequestHandler):
    """A HEC that refuses every event and quotes back what it was sent."""
    hits = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        EchoHEC.hits += 1
        auth = self.headers.get("Authorization", "")
        # The second token straddles the 127 bytes of text the daemon keeps.
        body = json.dumps({"text": "Incorrect index; you sent %s with secret %s, again %s" %
                           (auth, SECRET, HEC_TOKEN),
                           "code": 7}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class EchoGraph(http.server.BaseHTTPRequestHandler):
    """A Graph that denies every request, quoting the client secret."""

    def do_GET(self):
        body = json.dumps({"error": {"code": "Authorization_RequestDenied",
                                     "message": "client secret %s is not allowed here" % SECRET}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_redaction():
    """Finding 16: the receiver's text, with the token in it, in status and the log."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHEC)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    graph = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoGraph)
    threading.Thread(target=graph.serve_forever, daemon=True).start()
    env = Env("redact")
    try:
        token = os.path.join(env.dir, "hec.token")
        with open(token, "w") as f:
            f.write(HEC_TOKEN + "\n")
        os.chmod(token, 0o600)
        with open(env.conf, "a") as f:
            f.write("\n[sink hec]\ntype = splunk-hec\nurl = http://127.0.0.1:%d\ntoken_file = %s\n" %
                    (srv.server_address[1], token))
        env.start_daemon()
        st = wait_for(lambda: ((env.status() or {}).get("sinks", {}).get("hec") or {}).get("last_error"),
                      timeout=60, what="the HEC error in status")
        check(bool(st) and EchoHEC.hits >= 1, "hec: the receiver refused the event (%s)" % st)
        check(st and "Incorrect index" in st and "[redacted]" in st,
              "status: the receiver's text is kept, the secrets in it redacted (%s)" % st)
        rc, human = env.ctl("status", json_out=False)
        rc2, js = env.ctl("--json", "status", json_out=False)
        log = env.log_text()
        for what, text in (("status", human), ("status --json", js), ("the log", log)):
            check(HEC_TOKEN[:12] not in text, "%s: no HEC token, not even a part of it" % what)
            check(SECRET not in text, "%s: no client secret" % what)
        check("[redacted]" in log, "the log line of the failure says [redacted]")

        # Microsoft's side: a Graph whose error text quotes the client secret.
        with open(env.conf) as f:
            conf = f.read()
        with open(env.conf, "w") as f:
            f.write(conf.replace("graph_url = %s" % env.sim.url, "graph_url = http://127.0.0.1:%d" % graph.server_address[1]))
        env.ctl("reload")
        env.ctl("poll")
        src = wait_for(lambda: "Authorization_RequestDenied" in ((env.source() or {}).get("last_error") or "")
                       and env.source(), timeout=60, what="the sign-ins error in status")
        err = (src or {}).get("last_error") or ""
        check("client secret [redacted] is not allowed" in err, "status: the source's error is redacted (%s)" % err)
        rc, human = env.ctl("status", json_out=False)
        check(SECRET not in human and SECRET not in env.log_text(), "status and the log: no client secret")
    finally:
        env.close()
        srv.shutdown()
        graph.shutdown()


def main():
    test_redaction()
    env = Env("escape", register="[exception scanner-hq@contoso.com]\nowner = facilities@contoso.com\n"
              "justification = MFP\ndevice = @SUM(1+1)\nexpires = %s\n" % day(40))
    with open(env.conf) as f:
        conf = f.read()
    url = os.path.join(env.dir, "teams.url")
    with open(url, "w") as f:
        f.write("%s/hooks/teams/workflows/abc?%s\n" % (env.sim.url, TEAMS_SIG))
    os.chmod(url, 0o600)
    conf += "\n[sink teams]\ntype = teams\nurl_file = %s\nmin_severity = high\n" % url
    with open(env.conf, "w") as f:
        f.write(conf)
    try:
        env.sim.request("POST", "/_sim/hooks/teams/status", {"status": 202, "body": ""})
        env.sim.add_signins(TENANT, [{"at": "-5m", "user": EVIL, "ip": "198.51.100.9", "country": "NL",
                                      "error_code": 0, "count": 2, "every": "30s"}])
        # Under systemd stderr is a journal stream: "<N>" starts a record.
        env.start_daemon(env={"JOURNAL_STREAM": "8:12345"})
        alert = wait_for(lambda: find_alert(env), timeout=60, what="the alert for the hostile name")
        check(alert is not None, "the hostile name raised %s" % RULE)
        if alert is None:
            print(env.log_text()[-3000:])
            return
        test_teams_and_remediation(env)
        test_ctl(env, alert)
        test_report_csv(env)
        test_log(env)
    finally:
        env.close()


if __name__ == "__main__":
    main()
    finish()
