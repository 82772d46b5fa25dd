"""Syslog and journal sinks read by the real readers (issue 14 item 1).

A real systemd-journald runs in a private mount namespace (its own
/run/systemd/journal and /run/log bind-mounted from the test's directory,
its own journald.conf), and the daemon runs in that namespace too
(nsenter), so /run/systemd/journal/dev-log and the journal socket are that
journald's.  A real rsyslogd listens on a loopback TCP port with its
RFC 5424 parser and mmpstrucdata, and on a unix socket with imuxsock.

The one alert of the foundation scenario must come out
- of `journalctl -t smtpwatch -o json` twice: from the syslog sink with
  format = auto (SYSLOG_IDENTIFIER=smtpwatch, SYSLOG_PID the daemon's,
  PRIORITY 3, SYSLOG_FACILITY 10, MESSAGE the summary and the key fields)
  and from the journal sink (MESSAGE_ID of the rule, SMTPWATCH_* fields);
- of rsyslog's rfc5424 parser with app-name smtpwatch, procid "-", msgid
  the rule and every SD parameter as mmpstrucdata reads it;
- of rsyslog's imuxsock (format = auto) with programname smtpwatch and the
  tag smtpwatch[PID]:.

Skips (77) only where the namespace or a binary cannot be had."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Env, check, finish, wait_for  # noqa: E402

RULE = "unapproved-basic-auth-submission"
MESSAGE_ID = "4c96a5be3a8e42d5ae32a7a9ba04a554"
JOURNALD = "/lib/systemd/systemd-journald"
FIELDS = ("id", "rule", "severity", "tenant", "subject", "status", "count", "first_seen", "last_seen",
          "src_ip", "country")

JOURNALD_CONF = """[Journal]
Storage=volatile
ReadKMsg=no
Audit=no
ForwardToSyslog=no
ForwardToWall=no
ForwardToConsole=no
ForwardToKMsg=no
RateLimitBurst=0
"""

# Run by `unshare -m --propagation private`: nothing mounted here is seen
# outside, and the mounts go away with journald.  "ns-ok" says the
# namespace is made; after it, a journald that does not come up is a
# failure, not a skip.
NS_SCRIPT = """#!/bin/sh
set -e
D="$1"
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mkdir -p /run/systemd/journal /run/log
mount --bind "$D/journal" /run/systemd/journal
mount --bind "$D/log" /run/log
mount --bind "$D/journald.conf" /etc/systemd/journald.conf
for d in /etc/systemd/journald.conf.d /usr/lib/systemd/journald.conf.d; do
	[ ! -d "$d" ] || mount --bind "$D/empty" "$d"
done
touch "$D/ns-ok"
exec %s
""" % JOURNALD

RSYSLOG_CONF = """global(workDirectory="{d}/rs-work")
module(load="imuxsock" SysSock.Use="off")
module(load="imtcp")
module(load="mmpstrucdata")
template(name="sd" type="list") {{
  constant(value="{{\\"pri\\":\\"") property(name="pri")
  constant(value="\\",\\"hostname\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")
  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\",\\"vars\\":") property(name="$!")
  constant(value="}}\\n")
}}
template(name="local" type="list") {{
  constant(value="{{\\"pri\\":\\"") property(name="pri")
  constant(value="\\",\\"programname\\":\\"") property(name="programname" format="json")
  constant(value="\\",\\"syslogtag\\":\\"") property(name="syslogtag" format="json")
  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")
  constant(value="\\",\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\"}}\\n")
}}
ruleset(name="r5424" parser="rsyslog.rfc5424") {{
  action(type="mmpstrucdata")
  action(type="omfile" file="{d}/rs-5424.json" template="sd")
}}
ruleset(name="rlocal") {{
  action(type="omfile" file="{d}/rs-local.json" template="local")
}}
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{d}/rs-tcp.port" ruleset="r5424")
input(type="imuxsock" Socket="{d}/rs-log.sock" ruleset="rlocal")
"""


def skip(why):
    print("# SKIP: %s" % why, flush=True)
    sys.exit(77)  # meson's "skipped"


def kv_value(v):
    """A value as the syslog(3) form writes it after the message."""
    v = str(v)
    if v == "" or re.search(r'[ "\\=]', v):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return v


def expected_fields(doc):
    """The fields every form carries, as strings, from the alert document."""
    ent = doc.get("entities") or {}
    ev = doc.get("evidence") or {}
    out = {k: str(doc[k]) for k in FIELDS[:9] if doc.get(k) is not None}
    ips = ent.get("ips") or ev.get("ips")
    countries = ent.get("countries") or ev.get("countries")
    if ips:
        out["src_ip"] = ",".join(ips)
    if countries:
        out["country"] = ",".join(countries)
    return out


def read_json_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def start_journald(d):
    """journald in its namespace; its Popen (pid = journald's, unshare
    execs without forking)."""
    for sub in ("journal", "log", "empty"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "journald.conf"), "w") as f:
        f.write(JOURNALD_CONF)
    script = os.path.join(d, "ns.sh")
    with open(script, "w") as f:
        f.write(NS_SCRIPT)
    log = open(os.path.join(d, "journald.log"), "w")
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", script, d],
                         stdout=log, stderr=subprocess.STDOUT)
    up = wait_for(lambda: os.path.exists(os.path.join(d, "journal", "dev-log")) or p.poll() is not None,
                  timeout=15, what="journald's dev-log")
    if not os.path.exists(os.path.join(d, "ns-ok")):
        p.wait(10)
        log.close()
        skip("cannot make the mount namespace: " + open(os.path.join(d, "journald.log")).read().strip())
    if p.poll() is not None or not up:
        log.close()
        print(open(os.path.join(d, "journald.log")).read())
    return p


def start_rsyslog(d):
    conf = os.path.join(d, "rsyslog.conf")
    os.makedirs(os.path.join(d, "rs-work"), exist_ok=True)
    with open(conf, "w") as f:
        f.write(RSYSLOG_CONF.format(d=d))
    log = open(os.path.join(d, "rsyslog.log"), "w")
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "rsyslog.pid")],
                         stdout=log, stderr=subprocess.STDOUT)
    port_file = os.path.join(d, "rs-tcp.port")
    ok = wait_for(lambda: (os.path.exists(port_file) and open(port_file).read().strip().isdigit()
                           and os.path.exists(os.path.join(d, "rs-log.sock"))) or p.poll() is not None,
                  timeout=15, what="rsyslogd's listeners")
    if p.poll() is not None or not ok:
        return p, None
    return p, int(open(port_file).read().strip())


def stop(p):
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def journal_entries(env, d):
    p = subprocess.run(["journalctl", "--directory=" + os.path.join(d, "log", "journal"), "-t", "smtpwatch",
                        "-o", "json", "-a", "--no-pager"], capture_output=True, text=True, timeout=20)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def test_journald(env, d, doc, pid):
    want_msg = "[firing] %s%s" % (doc["summary"], "".join(
        " %s=%s" % (k, kv_value(v)) for k, v in expected_fields(doc).items()))
    wait_for(lambda: len(journal_entries(env, d)) >= 2, timeout=20, what="two journal entries")
    got = journal_entries(env, d)
    syslog = [e for e in got if e.get("_TRANSPORT") == "syslog"]
    native = [e for e in got if e.get("_TRANSPORT") == "journal"]
    check(len(syslog) == 1, "journalctl -t smtpwatch: one entry from the syslog sink on dev-log (%d)" % len(syslog))
    if syslog:
        e = syslog[0]
        check(e.get("SYSLOG_IDENTIFIER") == "smtpwatch", "journald parsed SYSLOG_IDENTIFIER=smtpwatch (%s)"
              % e.get("SYSLOG_IDENTIFIER"))
        check(e.get("SYSLOG_PID") == str(pid) and e.get("_PID") == str(pid),
              "SYSLOG_PID and _PID are the daemon's %d (%s, %s)" % (pid, e.get("SYSLOG_PID"), e.get("_PID")))
        check(e.get("PRIORITY") == "3" and e.get("SYSLOG_FACILITY") == "10",
              "PRIORITY 3 (err) for a high alert, SYSLOG_FACILITY 10 (authpriv) (%s, %s)"
              % (e.get("PRIORITY"), e.get("SYSLOG_FACILITY")))
        check(e.get("MESSAGE") == want_msg, "MESSAGE is the summary and the key fields, nothing of a header "
              "(%r, want %r)" % (e.get("MESSAGE"), want_msg))
    check(len(native) == 1, "journalctl -t smtpwatch: one entry from the journal sink (%d)" % len(native))
    if native:
        e = native[0]
        check(e.get("MESSAGE_ID") == MESSAGE_ID and e.get("PRIORITY") == "3",
              "journal sink: the rule's MESSAGE_ID and PRIORITY 3 (%s, %s)" % (e.get("MESSAGE_ID"), e.get("PRIORITY")))
        check(e.get("SMTPWATCH_ID") == doc["id"] and e.get("SMTPWATCH_SUBJECT") == doc["subject"]
              and e.get("_PID") == str(pid), "journal sink: SMTPWATCH_ID, SMTPWATCH_SUBJECT, the daemon's _PID")
        check(e.get("MESSAGE") == "[firing] contoso: " + doc["summary"], "journal sink: MESSAGE (%r)" % e.get("MESSAGE"))
    # A field match, as an operator would search.
    p = subprocess.run(["journalctl", "--directory=" + os.path.join(d, "log", "journal"), "-o", "json",
                        "--no-pager", "MESSAGE_ID=" + MESSAGE_ID, "SMTPWATCH_EVIDENCE_IPS=198.51.100.7"],
                       capture_output=True, text=True, timeout=20)
    check(len([ln for ln in p.stdout.splitlines() if ln.strip()]) == 1,
          "journalctl MESSAGE_ID=... SMTPWATCH_EVIDENCE_IPS=198.51.100.7 finds the alert")


def test_rsyslog(env, d, doc, pid):
    fields = expected_fields(doc)
    got = wait_for(lambda: read_json_lines(os.path.join(d, "rs-5424.json")), timeout=20, what="rsyslog rfc5424")
    check(len(got) == 1, "rsyslog (imtcp, rfc5424 parser) got one message (%d)" % len(got))
    if got:
        m = got[0]
        check(m["app"] == "smtpwatch" and m["procid"] == "-" and m["msgid"] == RULE,
              "rsyslog: app-name smtpwatch, procid -, msgid the rule (%s, %s, %s)" % (m["app"], m["procid"], m["msgid"]))
        check(m["pri"] == "83", "rsyslog: PRI 83, authpriv.err (%s)" % m["pri"])
        check(m["hostname"] == socket.gethostname(), "rsyslog: HOSTNAME is this host (%s)" % m["hostname"])
        sd = (m.get("vars") or {}).get("rfc5424-sd", {})
        check(list(sd) == ["smtpwatch@0"], "rsyslog: one SD element, smtpwatch@0 (%s)" % list(sd))
        params = sd.get("smtpwatch@0", {})
        for k in FIELDS:
            check(params.get(k) == fields.get(k) and k in params,
                  "rsyslog SD %s = %r (want %r)" % (k, params.get(k), fields.get(k)))
        check(set(params) == set(FIELDS), "rsyslog SD: no other parameter (%s)" % sorted(params))
        check(m["msg"] == "[firing] " + doc["summary"], "rsyslog: MSG is [STATUS] SUMMARY (%r)" % m["msg"])

    got = wait_for(lambda: read_json_lines(os.path.join(d, "rs-local.json")), timeout=20, what="rsyslog imuxsock")
    check(len(got) == 1, "rsyslog (imuxsock, format = auto) got one message (%d)" % len(got))
    if got:
        m = got[0]
        check(m["programname"] == "smtpwatch" and m["syslogtag"] == "smtpwatch[%d]:" % pid,
              "imuxsock: programname smtpwatch, tag smtpwatch[%d]: (%s, %s)" % (pid, m["programname"], m["syslogtag"]))
        check(m["procid"] == str(pid) and m["pri"] == "83", "imuxsock: procid the pid, PRI 83 (%s, %s)"
              % (m["procid"], m["pri"]))
        msg = m["msg"].lstrip(" ")
        check(msg.startswith("[firing] " + doc["summary"] + " id=" + doc["id"] + " rule=" + RULE + " "),
              "imuxsock: the message, then the key fields (%r)" % msg[:160])


def main():
    if os.geteuid() != 0:
        skip("needs root for a mount namespace")
    for tool in ("unshare", "nsenter", "journalctl", "rsyslogd"):
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
    if not os.access(JOURNALD, os.X_OK):
        skip("%s is not installed" % JOURNALD)
    for f in ("/etc/systemd/journald.conf", "/run/systemd"):
        if not os.path.exists(f):
            skip("%s is missing: nothing to mount over" % f)

    env = Env("journal", sinks="")
    d = env.dir
    journald = rsyslog = None
    try:
        journald = start_journald(d)
        check(journald.poll() is None and os.path.exists(os.path.join(d, "journal", "dev-log")),
              "journald runs in its namespace with its dev-log in the test's directory")
        rsyslog, port = start_rsyslog(d)
        if port is None:
            print(open(os.path.join(d, "rsyslog.log")).read())
        check(port is not None, "rsyslogd listens on a loopback port and a unix socket")
        if journald.poll() is not None or port is None:
            return
        with open(env.conf, "a") as f:
            f.write("[sink dev-log]\ntype = syslog\naddress = unix:/run/systemd/journal/dev-log\n"
                    "facility = authpriv\n\n"
                    "[sink journal]\ntype = journal\n\n"
                    "[sink rsyslog]\ntype = syslog\naddress = tcp://127.0.0.1:%d\nformat = rfc5424\n"
                    "facility = authpriv\n\n"
                    "[sink imuxsock]\ntype = syslog\naddress = unix:%s\nfacility = authpriv\n"
                    % (port, os.path.join(d, "rs-log.sock")))
        # The daemon in journald's namespace: /run/systemd/journal is that
        # journald's there.  nsenter execs it without forking (no pid
        # namespace), so the Popen's pid is the daemon's.
        saved = harness.WRAP
        harness.WRAP = ["nsenter", "-t", str(journald.pid), "-m", "--"] + saved
        try:
            daemon = env.start_daemon()
        finally:
            harness.WRAP = saved
        pid = daemon.pid
        done = wait_for(lambda: all((((env.status() or {}).get("sinks") or {}).get(s) or {}).get("delivered", 0) >= 1
                                    for s in ("dev-log", "journal", "rsyslog", "imuxsock")),
                        timeout=90, what="every sink delivered")
        check(bool(done), "every sink delivered the alert (%s)" % (env.status() or {}).get("sinks"))
        rc, alerts = env.ctl("alerts")
        docs = [a for a in (alerts.get("alerts", []) if rc == 0 else []) if a.get("rule") == RULE]
        check(len(docs) == 1, "one %s alert (%d)" % (RULE, len(docs)))
        if not docs:
            return
        doc = docs[0]
        test_journald(env, d, doc, pid)
        test_rsyslog(env, d, doc, pid)
    finally:
        env.stop_daemon()
        stop(rsyslog)
        stop(journald)
        env.close()


if __name__ == "__main__":
    main()
    finish()
