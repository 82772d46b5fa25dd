"""The HTML report as a manager opens it: the real simulator and daemon,
three weeks of history (one sender goes silent, one moves to OAuth, one
goes silent and comes back on OAuth), `smtpwatchctl report --format html`
rendered in real headless Chromium (DOM dump, screenshot, PDF), with a
network log that must show no request leaving the page.

Skips (exit 77) only when Chromium is not installed or cannot start."""

import html.parser
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SCALE, SMTPWATCHCTL, TENANT_ID, Env, check, finish, wait_for  # noqa: E402

STOPPED = "basic-sender-stopped"
HOSTILE = "<script>alert(1)</script>@contoso.com"
HOSTILE_OWNER = 'Facilities "HQ" <ops> & Co'


def day(offset):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary, workdir, url, *extra, netlog=None):
    """Chromium headless with nothing of its own on the network and every
    host name unresolvable; returns (rc, stdout, stderr)."""
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--user-data-dir=" + os.path.join(workdir, "profile"),
            '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1']
    if netlog:
        args += ["--log-net-log=" + netlog, "--net-log-capture-mode=Everything"]
    p = subprocess.run(args + list(extra) + [url], capture_output=True, timeout=120 * SCALE,
                       env=dict(os.environ, HOME=workdir))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def page_requests(netlog):
    """The requests the page made, from Chromium's net log: each
    URL_REQUEST_START_JOB whose initiator is the page (a file:// page has
    the opaque origin "null") or whose network isolation key is file://.
    Chromium's own background fetches (network time, component updates,
    accounts), initiator "not an origin", are not the page's; they are
    returned apart.  An unfinished log lacks its closing brackets."""
    with open(netlog) as f:
        text = f.read()
    try:
        log = json.loads(text)
    except ValueError:
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    page, browser = [], []
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        if ev.get("type") != start or "url" not in params:
            continue
        mine = params.get("initiator") != "not an origin" or "file://" in params.get("network_isolation_key", "")
        (page if mine else browser).append(params["url"])
    return page, browser


def external(urls):
    return [u for u in urls if not u.startswith(("file:", "data:", "about:", "chrome:", "devtools:"))]


class Dom(html.parser.HTMLParser):
    """The elements of the dumped DOM: tags with attributes, and the text
    of each table cell."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.cells = []
        self._cell = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def attrs(self, tag, name):
        return [a.get(name) for t, a in self.tags if t == tag and name in a]


def history_csv():
    """21 days of the SMTP AUTH clients report: printer-a on Basic until 4
    days ago (then silent), app-b on Basic for two weeks then on OAuth,
    fax-c on Basic until 4 days ago (it comes back on OAuth later)."""
    rows = ["Date,Sender address,Messages sent,Authentication protocol"]
    for d in range(-21, 0):
        if d <= -4:
            rows.append("%s,printer-a@contoso.com,%d,Basic" % (day(d), 10 + (d % 3)))
            rows.append("%s,fax-c@contoso.com,4,Basic" % day(d))
        rows.append("%s,app-b@contoso.com,%d,%s" % (day(d), 20, "Basic" if d < -7 else "OAuth"))
    return "\n".join(rows) + "\n"


def alert(env, rule, subject, all_=False):
    rc, data = env.ctl("alerts", *(["--all"] if all_ else []))
    for a in (data["alerts"] if rc == 0 else []):
        if a["rule"] == rule and a["subject"] == subject:
            return a
    return None


def main():
    binary = chromium()
    if binary is None:
        print("# skip: chromium is not installed (Debian package chromium, scripts/deps)", flush=True)
        sys.exit(77)
    probe_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sw-chromium-probe-%d" % os.getpid())
    os.makedirs(probe_dir, exist_ok=True)
    probe = os.path.join(probe_dir, "p.html")
    with open(probe, "w") as f:
        f.write("<!DOCTYPE html><p id=x>probe</p>")
    try:
        rc, out, err = run_chromium(binary, probe_dir, "file://" + probe, "--dump-dom")
    except (OSError, subprocess.TimeoutExpired) as e:
        rc, out, err = -1, "", str(e)
    shutil.rmtree(probe_dir, ignore_errors=True)
    if rc != 0 or "probe" not in out:
        print("# skip: chromium cannot run here (exit %s): %s" % (rc, err.strip()[-400:]), flush=True)
        sys.exit(77)

    register = ("[exception scanner-hq@contoso.com]\nowner = %s\njustification = Ricoh MFP scan-to-mail\n"
                "ticket = CHG-10422\nexpires = %s\ndevice = Ricoh MP C3004\ncriticality = high\n"
                "migration = in-progress\n\n"
                "[exception soon@contoso.com]\nowner = it@contoso.com\nexpires = %s\ndevice = <b>bold</b> printer\n\n"
                "[exception old-fax@contoso.com]\nowner = it@contoso.com\nexpires = %s\n\n"
                "[exception printer-a@contoso.com]\nowner = facilities@contoso.com\nexpires = %s\n"
                "device = HP LaserJet 4250\ncriticality = critical\nmigration = blocked\n"
                % (HOSTILE_OWNER, day(40), day(5), day(-3), day(30)))
    env = Env("report-html", register=register)
    # Security defaults off, no conditional access: legacy authentication
    # is not blocked, and the verdict has a failing check to show.
    env.sim.request("POST", "/_sim/tenants/%s/changes" % TENANT_ID, {"changes": [{"security_defaults": False}]})
    # A hostile UPN in the first read of the sign-ins.
    env.sim.add_signins(TENANT_ID, [{"at": "-20m", "count": 2, "every": "1m", "user": HOSTILE, "ip": "192.0.2.66",
                                     "country": "US", "error_code": 0}])
    try:
        env.start_daemon()
        check(wait_for(lambda: alert(env, "unapproved-basic-auth-submission", HOSTILE.lower()) or
                       alert(env, "unapproved-basic-auth-submission", HOSTILE), timeout=60,
                       what="the hostile sender's alert") is not None, "the sign-ins with a hostile UPN are read")
        hist = os.path.join(env.dir, "history.csv")
        with open(hist, "w") as f:
            f.write(history_csv())
        rc, out = env.ctl("import-report", "contoso", hist)
        check(rc == 0 and out["rows"] == 21 * 3 - 6, "three weeks of history imported (%s)" % (out if rc else ""))
        stopped = wait_for(lambda: alert(env, STOPPED, "fax-c@contoso.com"), timeout=30,
                           what="fax-c to go silent")
        check(stopped is not None and alert(env, STOPPED, "printer-a@contoso.com") is not None,
              "printer-a and fax-c went silent: basic-sender-stopped fires")
        check(alert(env, STOPPED, "app-b@contoso.com") is None, "app-b moved to OAuth: not silent")
        back = os.path.join(env.dir, "back.csv")
        with open(back, "w") as f:
            f.write("Date,Sender address,Messages sent,Authentication protocol\n%s,fax-c@contoso.com,3,OAuth\n"
                    % day(-1))
        rc, out = env.ctl("import-report", "contoso", back)
        res = wait_for(lambda: (lambda a: a if a and a["status"] == "resolved" else None)(
            alert(env, STOPPED, "fax-c@contoso.com", all_=True)), timeout=30, what="fax-c to come back")
        check(res is not None and "now on OAuth" in res["summary"], "fax-c comes back on OAuth: resolved (%s)" %
              (res or {}).get("summary"))

        rc, text = env.ctl("report", "--since", "28d", json_out=False)
        check(rc == 0 and "went silent: printer-a@contoso.com (since " in text and
              "went silent: fax-c" not in text, "the terminal report names the sender still silent (%r)" %
              [line for line in text.splitlines() if "silent" in line])
        rc, doc = env.ctl("report", "--format", "json", "--since", "28d")
        t = doc["tenants"][0] if rc == 0 else {}
        weeks = [w["week"] for w in t.get("chart", [])]
        check(len(weeks) in (5, 6), "28 days span 5 or 6 weeks (%s)" % weeks)

        p = subprocess.run([SMTPWATCHCTL, "-s", env.socket, "report", "--format", "html", "--since", "28d"],
                           capture_output=True, timeout=30 * SCALE)
        page = p.stdout.decode("utf-8")
        check(p.returncode == 0 and page.startswith("<!DOCTYPE html>"), "--format html writes a page to stdout")
        path = os.path.join(env.dir, "report.html")
        with open(path, "wb") as f:
            f.write(p.stdout)
        check("<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;@contoso.com" in page,
              "the hostile UPN is escaped in the file")
        low = page.lower()
        check(not any(s in low for s in ("src=", "href=", "http://", "https://", "url(", "@import")),
              "the file names nothing to fetch (no src, href, http(s), url(), @import)")
        rc, out = env.ctl("report", "--format", "html", "--json", json_out=False)
        check(rc == 2, "--json with --format html is a usage error")

        # Chromium: the DOM as it built it, with a network log.
        netlog = os.path.join(env.dir, "netlog.json")
        rc, dom_text, err = run_chromium(binary, env.dir, "file://" + path, "--dump-dom", netlog=netlog)
        check(rc == 0 and "</html>" in dom_text, "chromium renders the page (exit %s)" % rc)
        dom = Dom()
        dom.feed(dom_text)
        check(not [t_ for t_, _ in dom.tags if t_ in ("script", "iframe", "object", "embed", "img", "link")],
              "no script, iframe, object, embed, img or link element in the DOM")
        check(not [a for _, a in dom.tags if any(k.startswith("on") for k in a)], "no event handler attribute")
        verdicts = dom.attrs("div", "data-verdict")
        check(verdicts == ["not-compliant"], "the verdict: not compliant (%s)" % verdicts)
        checks = dict(zip(dom.attrs("tr", "data-check"), [None] * 3))
        check(set(checks) == {"smtp-auth-tenant", "exceptions-registered", "legacy-auth-blocked"},
              "the three CIS 1.3.2 checks (%s)" % list(checks))
        text = "".join(dom.text)
        check("SMTP AUTH disabled tenant-wide" in text and "PASS" in text and "FAIL" in text and
              "SmtpClientAuthenticationDisabled is True" in text, "each check with its result and evidence")
        dom_weeks = dom.attrs("g", "data-week")
        check(dom_weeks == weeks + weeks, "both charts have one group per week of the JSON (%s)" % dom_weeks)
        check(len(dom.attrs("svg", "data-measure")) == 2, "two inline SVG charts: senders and messages")
        check(HOSTILE.lower() in dom.cells or HOSTILE in dom.cells,
              "the hostile UPN is a table cell's text, not markup")
        for s in ("printer-a@contoso.com", "app-b@contoso.com", "fax-c@contoso.com", "scanner-hq@contoso.com",
                  "scanner2@contoso.com"):
            check(s in dom.cells, "the inventory lists %s" % s)
        check(HOSTILE_OWNER in dom.cells and "<b>bold</b> printer" in dom.cells,
              "register strings (an owner with quotes, <, &; a device with tags) are text")
        trs = [a.get("class") for t_, a in dom.tags if t_ == "tr" and a.get("class") in ("expired", "expiring")]
        check(trs == ["expired", "expiring"], "exceptions by expiry: the expired first, then the expiring (%s)" % trs)
        check("EXPIRED" in dom.cells and "EXPIRING" in dom.cells, "both marked")
        check("the audit source is not configured" in text, "the changes section says the audit source is not "
              "configured")
        check("now on OAuth" in dom.cells and "still silent" in dom.cells and "HP LaserJet 4250" in dom.cells,
              "the silent senders: printer-a still silent (its device), fax-c now on OAuth")
        check("CIS Microsoft 365 Foundations Benchmark 1.3.2" in text and "BIO 09.04.02" in text and
              "ISO/IEC 27001 A.9.4.2" in text and "NIS2 article 21" in text, "the frameworks are named")
        page_urls, own = page_requests(netlog)
        check(os.path.getsize(netlog) > 0, "chromium wrote its net log (%d requests of its own, none the page's: %s)"
              % (len(own), sorted(set(u.split("?")[0] for u in own))))
        check(external(page_urls) == [], "the page requested nothing from the network (%s)" % page_urls[:5])

        # The net log check is real: a page that loads an image shows up.
        control = os.path.join(env.dir, "control.html")
        with open(control, "w") as f:
            f.write('<!DOCTYPE html><img src="http://smtpwatch-probe.invalid/x.png"><p>control</p>')
        netlog2 = os.path.join(env.dir, "netlog-control.json")
        run_chromium(binary, env.dir, "file://" + control, "--dump-dom", netlog=netlog2)
        check(any("smtpwatch-probe.invalid" in u for u in external(page_requests(netlog2)[0])),
              "a control page that fetches an image is caught by the same net log check")

        # A screenshot and a PDF, as a browser prints it.
        shot = os.path.join(env.dir, "report.png")
        rc, _, err = run_chromium(binary, env.dir, "file://" + path, "--screenshot=" + shot,
                                  "--window-size=1280,2400", "--hide-scrollbars")
        with open(shot, "rb") as f:
            png = f.read() if os.path.exists(shot) else b""
        check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30000, "a screenshot (%d bytes)" % len(png))
        pdf = os.path.join(env.dir, "report.pdf")
        rc, _, err = run_chromium(binary, env.dir, "file://" + path, "--print-to-pdf=" + pdf,
                                  "--no-pdf-header-footer")
        data = open(pdf, "rb").read() if os.path.exists(pdf) else b""
        pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
        if pages <= 0:
            pages = data.count(b"/Type/Page") - data.count(b"/Type/Pages")
        check(data.startswith(b"%PDF") and pages >= 2, "it prints to PDF: %d pages (a page per tenant after the "
              "summary)" % pages)
        print("# report: %s, screenshot: %s, pdf: %s" % (path, shot, pdf), flush=True)
    except Exception:
        print(env.log_text())
        raise
    finally:
        env.close()
    audit_changes(binary)
    finish()


def audit_changes(binary):
    """With [tenant] audit on, the changes of the period come from the
    unified audit log (sim/scenarios/audit.json): who, what, from where;
    a hostile actor name is text."""
    hostile_actor = '<img src=x onerror=alert(1)>@contoso.com'
    env = Env("report-html-audit", scenario="audit.json",
              tenant_extra="audit = on\nmanage_url = @SIM@/manage\naudit_interval = 1h\n")
    with open(env.conf) as f:
        text = f.read().replace("@SIM@", env.sim.url)
    with open(env.conf, "w") as f:
        f.write(text)
    env.sim.request("POST", "/_sim/tenants/%s/audit" % TENANT_ID, {"records": [
        {"at": "-10m", "user": hostile_actor, "ip": "192.0.2.99", "operation": "Set-TransportConfig",
         "parameters": {"SmtpClientAuthenticationDisabled": "False"}}]})
    try:
        env.start_daemon()
        ok = wait_for(lambda: (env.source("audit") or {}).get("state") == "ok" and
                      (env.source("exchange") or {}).get("state") == "ok", timeout=60, what="the audit source")
        check(bool(ok), "the audit and exchange sources complete a run")
        rc, doc = env.ctl("report", "--format", "json", "--since", "7d")
        ch = doc["tenants"][0]["changes"] if rc == 0 else {}
        who = sorted((c["who"], c["operation"], c["subject"]) for c in ch.get("changes", []))
        check(ch.get("configured") is True and ch.get("total") == 4 and
              ("it-admin@contoso.com", "Set-CASMailbox", "scanner2@contoso.com") in who,
              "--format json: the changes of the period with who made them (%s)" % who)
        v = {c["id"]: c for c in doc["tenants"][0]["verdict"]["checks"]} if rc == 0 else {}
        ex = v.get("exceptions-registered", {})
        check(ex.get("status") == "fail" and "scanner2@contoso.com (not in the register)" in ex.get("evidence", ""),
              "scanner2's unregistered override fails the exceptions check (%s)" % ex.get("evidence"))
        path = os.path.join(env.dir, "report.html")
        p = subprocess.run([SMTPWATCHCTL, "-s", env.socket, "report", "--format", "html", "--since", "7d"],
                           capture_output=True, timeout=30 * SCALE)
        with open(path, "wb") as f:
            f.write(p.stdout)
        rc, dom_text, err = run_chromium(binary, env.dir, "file://" + path, "--dump-dom")
        dom = Dom()
        dom.feed(dom_text)
        check(rc == 0 and "it-admin@contoso.com" in dom.cells and "Set-CASMailbox" in dom.cells and
              "203.0.113.9" in dom.cells, "the page lists the change, who made it and from where")
        check(hostile_actor in dom.cells and not [t for t, _ in dom.tags if t in ("img", "script")],
              "a hostile actor name is a cell's text, no element")
        check("the audit source is not configured" not in "".join(dom.text), "no 'not configured' with audit on")
    except Exception:
        print(env.log_text())
        raise
    finally:
        env.close()


if __name__ == "__main__":
    main()
