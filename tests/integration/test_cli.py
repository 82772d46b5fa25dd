"""The command line as an operator types it (issue 14, item 4): the
version of both programs, smtpwatchd -t and -T (the effective config,
every default, no secret), usage errors exit 2, and smtpwatchctl --json
printing one JSON document on stdout even for an error."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import SECRET, SMTPWATCHCTL, SMTPWATCHD, Env, check, finish  # noqa: E402


def run(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


def meson_version():
    """The project version, from the top meson.build (what -V must print)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "meson.build")) as f:
        for line in f:
            if "version" in line and ":" in line:
                return line.split("'")[1] if "version :" in line or "version:" in line else None
    return None


def test_version():
    v = meson_version()
    for prog, name in ((SMTPWATCHCTL, "smtpwatchctl"), (SMTPWATCHD, "smtpwatchd")):
        for flag in ("--version", "-V"):
            p = run(prog, flag)
            check(p.returncode == 0 and p.stdout == "%s %s\n" % (name, v),
                  "%s %s prints \"%s %s\" (got %d %r)" % (name, flag, name, v, p.returncode, p.stdout))


def test_usage_exit_2(env):
    for args in (["--no-such-option"], ["-c"], ["stray-argument"], ["-t", "-T"], ["-t", "--once"]):
        p = run(SMTPWATCHD, *args)
        check(p.returncode == 2 and "usage:" in p.stderr,
              "smtpwatchd %s: usage error, exit 2 (got %d)" % (" ".join(args), p.returncode))
    for args in (["--no-such-option", "status"], [], ["no-such-command"], ["alerts", "--bogus"],
                 ["-s"]):
        p = run(SMTPWATCHCTL, "-s", env.socket, *args) if args != ["-s"] else run(SMTPWATCHCTL, "-s")
        check(p.returncode == 2, "smtpwatchctl %s: usage error, exit 2 (got %d)" % (" ".join(args), p.returncode))


def test_check_and_dump(env):
    p = run(SMTPWATCHD, "-t", "-c", env.conf)
    check(p.returncode == 0 and "configuration OK" in p.stdout, "smtpwatchd -t is --check-config (%d)" % p.returncode)

    p = run(SMTPWATCHD, "-T", "-c", env.conf)
    out = p.stdout
    check(p.returncode == 0, "smtpwatchd -T exits 0 on a valid config (%d: %s)" % (p.returncode, p.stderr))
    # Sections as in smtpwatch.conf(5), and the defaults the file left out.
    for sec in ("[daemon]", "[rules]", "[tenant contoso]", "[sink soc]", "[sink local]", "[sink hook]"):
        check(("\n%s\n" % sec) in out, "-T has the section %s" % sec)
    for line in ("retention = 400d", "dead_after = 3d", "max_silence = 30d", "spray_failures = 20",
                 "bruteforce_window = 15m", "stale_after = 3h", "config_interval = 1h", "assertion_alg = PS256",
                 "min_severity = info", "facility = authpriv", "allow_cleartext = no",
                 "client_secret_file = %s" % env.secret, "url_file = %s" % env.url_file):
        check(("\n%s\n" % line) in out, "-T shows the effective \"%s\"" % line)
    # No secret value: the client secret, the webhook url from url_file,
    # and an inline webhook url (it is the credential of a Teams/Slack hook).
    for secret in (SECRET, "SECRETHOOKPATH", "/hooks/soc"):
        check(secret not in out and secret not in p.stderr, "-T does not print %r" % secret)
    # It reads as INI: every line a comment, a [section] or key = value.
    bad = [ln for ln in out.splitlines()
           if ln and not ln.startswith("#") and not (ln.startswith("[") and ln.endswith("]")) and " =" not in ln]
    check(not bad, "-T is INI (odd lines: %r)" % bad[:3])

    with open(env.secret, "a"):
        pass
    os.chmod(env.secret, 0o644)
    p = run(SMTPWATCHD, "-T", "-c", env.conf)
    check(p.returncode == 1 and p.stdout == "" and "contoso.secret" in p.stderr,
          "-T on a config that fails the check: exit 1, nothing on stdout (%d)" % p.returncode)
    os.chmod(env.secret, 0o600)


def one_json_document(p, what):
    """stdout must be exactly one JSON document; return it (or None)."""
    try:
        return json.loads(p.stdout)
    except ValueError:
        check(False, "%s: stdout is one JSON document (got %r)" % (what, p.stdout[:200]))
        return None


def test_json(env):
    ctl = [SMTPWATCHCTL, "-s", env.socket]
    # Not reachable: exit 3 as before, the error as JSON, and the hint.
    gone = os.path.join(env.dir, "no-such.sock")
    p = run(SMTPWATCHCTL, "-s", gone, "--json", "status")
    doc = one_json_document(p, "--json status, no daemon")
    check(p.returncode == 3, "--json status with no daemon: exit 3 unchanged (%d)" % p.returncode)
    if doc is not None:
        err = doc.get("error", "")
        check(doc.get("ok") is False and gone in err, "the error document names the socket: %r" % doc)
        check("is smtpwatchd running?" in err and "group smtpwatch (socket_group)" in err,
              "a connect failure says what to check: %r" % err)
    check("is smtpwatchd running?" in p.stderr, "the hint is on stderr too")

    # Usage errors: exit 2, also when --json comes after the bad argument.
    for args in (["--json", "report", "--format", "csv"], ["report", "--format", "csv", "--json"],
                 ["--json", "report", "--format", "html"], ["--json", "no-such-command"],
                 ["alerts", "--bogus", "--json"], ["--json"]):
        p = run(*ctl, *args)
        doc = one_json_document(p, " ".join(args))
        check(p.returncode == 2 and doc is not None and doc.get("ok") is False and doc.get("error"),
              "smtpwatchctl %s: exit 2 and {\"ok\":false,\"error\":...} (got %d %r)" %
              (" ".join(args), p.returncode, doc))

    env.start_daemon()
    # The daemon's refusal: exit 1, the daemon's message as the error.
    p = run(*ctl, "--json", "ack", "no-such-alert-id")
    doc = one_json_document(p, "--json ack of an unknown id")
    check(p.returncode == 1 and doc is not None and doc.get("ok") is False and "no alert" in doc.get("error", ""),
          "--json ack of an unknown id: exit 1 and the daemon's message (%d %r)" % (p.returncode, doc))
    # Success is unchanged: the answer itself.
    p = run(*ctl, "--json", "status")
    doc = one_json_document(p, "--json status")
    check(p.returncode == 0 and doc is not None and "tenants" in doc and "ok" not in doc,
          "--json status: exit 0 and the status document (%d)" % p.returncode)
    # Without --json, CSV stays CSV and errors stay off stdout.
    p = run(*ctl, "report", "--format", "csv")
    check(p.returncode == 0 and not p.stdout.lstrip().startswith("{"), "report --format csv without --json is CSV")
    p = run(*ctl, "ack", "no-such-alert-id")
    check(p.returncode == 1 and p.stdout == "", "without --json an error prints nothing on stdout")


def test_alerts_pages(env):
    """alerts --limit/--after: pages that together are the whole list, in its
    order, with no duplicates; "more" and "next" in the --json reply (issue
    22 #4).  Alerts are added to the daemon's store beside what it found."""
    db = env.db()
    with db:
        for i in range(8):
            db.execute("INSERT INTO alerts (id, rule, tenant, subject, severity, status, first_seen, last_seen, "
                       "count, notified_count, transition, summary, evidence, updated) "
                       "VALUES (?, 'page-test', 'contoso', ?, 2, 0, 1000, 2000, 1, 1, 1, 'paged', '{}', ?)",
                       ("a-9%05d" % i, "pg%d@contoso.com" % i, 1000 + i // 3))
    db.close()
    for attempt in range(5):
        rc, whole = env.ctl("alerts", "--all")
        check(rc == 0, "alerts --all answers (%r)" % (whole if rc != 0 else sorted(whole),))
        want = [a["id"] for a in whole["alerts"]]
        check("more" not in whole and "next" not in whole, "without --limit the reply is as before (no more/next)")
        got, after, pages = [], [], 0
        while pages < 20:
            rc, page = env.ctl("alerts", "--all", "--limit", "4", *after)
            check(rc == 0 and isinstance(page.get("alerts"), list) and isinstance(page.get("more"), bool),
                  "alerts --limit 4 --json: {\"alerts\":[...],\"more\":bool} (%r)" % (page if rc != 0 else sorted(page),))
            check(len(page["alerts"]) <= 4, "a page holds at most --limit alerts (%d)" % len(page["alerts"]))
            got += [a["id"] for a in page["alerts"]]
            pages += 1
            if not page["more"]:
                check("next" not in page, "the last page has no next cursor")
                break
            check(str(page.get("next")).startswith(page["alerts"][-1]["id"] + "@"),
                  "next is the last alert's id and place (%r)" % page.get("next"))
            after = ["--after", page["next"]]
        rc, again = env.ctl("alerts", "--all")
        if rc == 0 and [a["id"] for a in again["alerts"]] == want:
            break  # the daemon added nothing meanwhile: the pages saw one list
    check(len(want) >= 9, "the list holds the 8 added alerts and the daemon's (%d)" % len(want))
    check(got == want, "the pages together are the whole list, in order (%d pages: %s vs %s)" % (pages, got, want))
    check(len(set(got)) == len(got), "no alert on two pages")
    check(pages == (len(want) + 3) // 4, "%d alerts come in %d pages of 4 (%d)" % (len(want), (len(want) + 3) // 4,
                                                                              pages))
    # The alert at the cursor changes before the next page is asked for
    # (it moves to the top of the list): the next page still follows its
    # place on the first one.
    rc, first = env.ctl("alerts", "--all", "--limit", "4")
    moved = first["alerts"][-1]["id"]
    db = env.db()
    with db:
        db.execute("UPDATE alerts SET updated = updated + 100000 WHERE id = ?", (moved,))
    db.close()
    rc, second = env.ctl("alerts", "--all", "--limit", "4", "--after", first["next"])
    seen = [a["id"] for a in first["alerts"]]
    check(rc == 0 and second["alerts"] and not set(a["id"] for a in second["alerts"]) & set(seen),
          "a page after a cursor whose alert changed meanwhile repeats nothing of the one before (%r, %r)" %
          (seen, rc == 0 and [a["id"] for a in second["alerts"]]))
    rc, text = env.ctl("alerts", "--all", "--limit", "2", json_out=False)
    check(rc == 0 and "more: --after " in text, "the text output says how to get the next page (%r)" % text[-200:])
    rc, err = env.ctl("alerts", "--after", "a-999999", "--limit", "2", json_out=False)
    check(rc == 1 and "no alert a-999999" in err, "an unknown cursor is refused by name (%d %r)" % (rc, err))
    for bad in ("0", "x", "10001"):
        rc, err = env.ctl("alerts", "--limit", bad, json_out=False)
        check(rc == 2 and "--limit" in err, "--limit %s is a usage error (%d %r)" % (bad, rc, err))


def test_man_pages():
    """mandoc warns on a bare year in .TH; the new flags are documented."""
    import glob
    import re
    man = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man")
    pages = [p for p in glob.glob(os.path.join(man, "*.[158]"))]
    check(pages, "man pages found in %s" % man)
    for page in pages:
        with open(page) as f:
            th = [ln for ln in f if ln.startswith(".TH ")]
        check(th and re.match(r'\.TH \S+ \d "\d{4}-\d{2}-\d{2}" ', th[0]),
              "%s: .TH has a full date (%r)" % (os.path.basename(page), th[:1]))
    with open(os.path.join(man, "smtpwatchd.8")) as f:
        d = f.read()
    with open(os.path.join(man, "smtpwatchctl.8")) as f:
        c = f.read()
    check("\\-T, \\-\\-dump\\-config" in d and "\\-t, \\-\\-check\\-config" in d, "smtpwatchd(8) documents -t and -T")
    check("\\-V, \\-\\-version" in c and '{"ok":false,"error":"..."}' in c, "smtpwatchctl(8) documents -V and --json errors")


def main():
    env = Env("cli")
    try:
        env.url_file = os.path.join(env.dir, "hook.url")
        with open(env.url_file, "w") as f:
            f.write(env.sim.url + "/hooks/SECRETHOOKPATH\n")
        os.chmod(env.url_file, 0o600)
        with open(env.conf, "a") as f:
            f.write("\n[sink hook]\ntype = webhook\nurl_file = %s\n" % env.url_file)
        test_version()
        test_man_pages()
        test_usage_exit_2(env)
        test_check_and_dump(env)
        test_json(env)
        test_alerts_pages(env)
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
