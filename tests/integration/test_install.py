"""Running smtpwatch as a service: the systemd unit's sandbox score, what
`meson install` puts where (DESTDIR; smtpwatchctl in bin, the daemon in
sbin; no live config, only the examples; the simulator only with
-Dinstall_sim=true; man pages that render; the bash completion), and
`smtpwatchctl metrics` against the simulator."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, SyslogSink, check, finish, wait_for, SMTPWATCHCTL, SMTPWATCHD  # noqa: E402

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UNIT = os.path.join(SRC, "systemd", "smtpwatchd.service")
TEMPLATE = os.path.join(SRC, "systemd", "smtpwatchd@.service")
MAX_EXPOSURE = 1.4
RULE = "unapproved-basic-auth-submission"


def skip(what, why):
    """A check that cannot run here: say so plainly, count it as passed."""
    print(f"ok - {what} # SKIP {why}", flush=True)
    print(f"# skipped: {what}: {why}", flush=True)


def exposure(unit):
    """The overall exposure systemd-analyze gives a unit file, or None."""
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", p.stdout + p.stderr)
    if not m:
        print("# " + (p.stdout + p.stderr).replace("\n", "\n# "))
    return float(m.group(1)) if m else None


def unit_directives(path):
    """key -> [values] of a unit file (comments and sections dropped)."""
    d = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            d.setdefault(k.strip(), []).append(v.strip())
    return d


def test_unit():
    u = unit_directives(UNIT)
    one = lambda k: (u.get(k) or [None])[-1]  # noqa: E731
    check(one("Type") == "notify", "the unit is Type=notify")
    check(one("WatchdogSec") not in (None, "", "0"), "the unit sets WatchdogSec= (%s)" % one("WatchdogSec"))
    check(any("-HUP $MAINPID" in v for v in u.get("ExecReload", [])), "ExecReload= sends SIGHUP")
    check(one("User") == "smtpwatch", "the unit runs as User=smtpwatch")
    check(re.match(r"^/usr/sbin/smtpwatchd -c /etc/smtpwatch/smtpwatch.conf$", one("ExecStart") or "") is not None,
          "ExecStart= runs /usr/sbin/smtpwatchd with /etc/smtpwatch/smtpwatch.conf")
    for k in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        check(one(k) == "smtpwatch", "%s=smtpwatch" % k)
    for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                 ("PrivateDevices", "yes"), ("MemoryDenyWriteExecute", "yes"), ("CapabilityBoundingSet", "")):
        check(one(k) == v, "%s=%s" % (k, v))
    check(one("RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6", "address families: unix, inet, inet6")
    check("@system-service" in u.get("SystemCallFilter", []), "SystemCallFilter=@system-service")
    # Issue 21 #21: resource ceilings, and no core dumps (they hold secrets).
    check(re.match(r"^\d+[KMGT]?$", one("MemoryMax") or "") is not None, "MemoryMax= is set (%s)" % one("MemoryMax"))
    check((one("LimitNOFILE") or "").isdigit(), "LimitNOFILE= is set (%s)" % one("LimitNOFILE"))
    check(one("LimitCORE") == "0", "LimitCORE=0 (a core dump holds the client secret)")
    check("PrivateNetwork" not in u, "no PrivateNetwork= (the daemon polls Microsoft)")
    check("PrivateUsers" not in u, "no PrivateUsers= (smtpwatchctl callers' credentials must stay readable)")
    # Issue 14 #2: no config, no start; a bad config fails once.
    check(one("ConditionPathExists") == "/etc/smtpwatch/smtpwatch.conf",
          "ConditionPathExists=/etc/smtpwatch/smtpwatch.conf (%s)" % one("ConditionPathExists"))
    check("78" in (one("RestartPreventExitStatus") or "").split(),
          "RestartPreventExitStatus= has 78, the daemon's exit for a bad config (%s)" % one("RestartPreventExitStatus"))
    check("ExecStartPre" not in u, "no ExecStartPre= (RestartPreventExitStatus= would not cover its failure)")
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "smtpwatch.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nstate_dir = %s\nsocket = %s/s.sock\nsocket_group =\nallow_root = yes\n\n"
                    "[tenant t]\ntenant_id = t.onmicrosoft.com\nclient_id = 00000000-0000-0000-0000-000000000000\n"
                    "client_secret_file = %s/missing.secret\n" % (d, d, d))
        p = subprocess.run([SMTPWATCHD, "-c", conf], capture_output=True, text=True, timeout=60)
        check(p.returncode == 78 and "missing.secret" in p.stderr,
              "smtpwatchd on a config with a missing secret exits 78 and names the file (%d: %s)"
              % (p.returncode, p.stderr.strip()[-200:]))

    if shutil.which("systemd-analyze") is None:
        skip("systemd-analyze security scores the unit at <= %.1f" % MAX_EXPOSURE,
             "systemd-analyze is not installed (Debian: apt-get install systemd)")
        return
    score = exposure(UNIT)
    if score is None and "unrecognized option" in subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--help"], capture_output=True, text=True).stderr:
        skip("systemd-analyze security scores the unit", "this systemd-analyze has no --offline (systemd < 250)")
        return
    print("# systemd-analyze security --offline=yes: exposure %s" % score)
    check(score is not None and score <= MAX_EXPOSURE,
          "systemd-analyze security scores the unit at %s (<= %.1f)" % (score, MAX_EXPOSURE))

    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "etc"))
        p = subprocess.run(["systemd-sysusers", "--root", root, os.path.join(SRC, "systemd", "smtpwatch.sysusers")],
                           capture_output=True, text=True, timeout=60)
        try:
            with open(os.path.join(root, "etc", "passwd")) as f:
                pw = f.read()
        except FileNotFoundError:
            pw = ""
        check(p.returncode == 0 and re.search(r"^smtpwatch:x:\d+:\d+:.*:/var/lib/smtpwatch:", pw, re.M),
              "sysusers.d creates the smtpwatch user (%s)" % (pw.strip() or p.stderr.strip()))


def test_template():
    """Issue 22 #5: smtpwatchd@NAME.service reads /etc/smtpwatch/NAME.conf, has
    its own state and runtime directories, the plain unit's sandbox, and
    systemd-analyze verify accepts an instance of it."""
    t, u = unit_directives(TEMPLATE), unit_directives(UNIT)
    one = lambda k: (t.get(k) or [None])[-1]  # noqa: E731
    check(one("ExecStart") == "/usr/sbin/smtpwatchd -c /etc/smtpwatch/%i.conf",
          "the template's ExecStart= reads /etc/smtpwatch/%%i.conf (%s)" % one("ExecStart"))
    check(one("ConditionPathExists") == "/etc/smtpwatch/%i.conf",
          "ConditionPathExists=/etc/smtpwatch/%%i.conf (no config, no start, no restart loop) (%s)"
          % one("ConditionPathExists"))
    check(t.get("ExecReload") == [v.replace("smtpwatch.conf", "%i.conf") for v in u["ExecReload"]],
          "ExecReload= checks the instance's config, then SIGHUP (%s)" % t.get("ExecReload"))
    check(one("StateDirectory") == "smtpwatch/%i", "StateDirectory=smtpwatch/%%i (%s)" % one("StateDirectory"))
    check(one("RuntimeDirectory") == "smtpwatch-%i",
          "RuntimeDirectory=smtpwatch-%%i, outside the plain unit's /run/smtpwatch (%s)" % one("RuntimeDirectory"))
    own = {"Description", "ExecStart", "ExecReload", "ConditionPathExists", "StateDirectory", "RuntimeDirectory"}
    diff = sorted(k for k in set(t) | set(u) if k not in own and t.get(k) != u.get(k))
    check(not diff, "every other directive (sandbox, ceilings, restart policy) is the plain unit's (differ: %s)" % diff)
    if shutil.which("systemd-analyze") is None:
        skip("systemd-analyze verify smtpwatchd@east.service", "systemd-analyze is not installed")
        return
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        with open(TEMPLATE) as f:
            text = f.read().replace("/usr/sbin/smtpwatchd", os.path.abspath(SMTPWATCHD))
        with open(os.path.join(d, "smtpwatchd@.service"), "w") as f:
            f.write(text)
        inst = os.path.join(d, "smtpwatchd@east.service")
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", inst], capture_output=True, text=True, timeout=120)
        check(p.returncode == 0 and not p.stderr.strip(),
              "systemd-analyze verify smtpwatchd@east.service (the template's instance) is clean (%d: %s)"
              % (p.returncode, p.stderr.strip()[:300]))
        score = exposure(inst)
        if score is not None:
            check(score <= MAX_EXPOSURE, "systemd-analyze security scores an instance at %s (<= %.1f)"
                  % (score, MAX_EXPOSURE))


def test_instance_socket():
    """smtpwatchctl -i NAME reaches the daemon whose socket is at the
    instance's path, /run/smtpwatch-NAME/control.sock."""
    for bad in ("", "a/b", "..", ".x", "x" * 120):
        p = subprocess.run([SMTPWATCHCTL, "-i", bad, "status"], capture_output=True, text=True, timeout=30)
        check(p.returncode == 2, "smtpwatchctl -i %r is a usage error, exit 2 (%d)" % (bad[:20], p.returncode))
    if os.geteuid() != 0 or not os.access("/run", os.W_OK):
        skip("smtpwatchctl -i NAME against a daemon at /run/smtpwatch-NAME", "needs root to write /run")
        return
    name = "swtest%d" % os.getpid()
    rundir = "/run/smtpwatch-%s" % name
    os.makedirs(rundir, mode=0o750)
    env = Env("instance")
    try:
        with open(env.conf) as f:
            conf = f.read()
        env.socket = os.path.join(rundir, "control.sock")
        with open(env.conf, "w") as f:
            f.write(re.sub(r"(?m)^socket = .*$", "socket = %s" % env.socket, conf, count=1))
        env.start_daemon()
        p = subprocess.run([SMTPWATCHCTL, "-i", name, "--json", "status"], capture_output=True, text=True,
                           timeout=30)
        doc = json.loads(p.stdout) if p.returncode == 0 else {}
        check(p.returncode == 0 and "contoso" in doc.get("tenants", {}),
              "smtpwatchctl -i %s status answers from %s with its tenant contoso (%d: %s)"
              % (name, env.socket, p.returncode, p.stderr.strip()[:200]))
        for args in (["--instance", name], ["--instance=" + name], ["-i" + name]):
            p = subprocess.run([SMTPWATCHCTL, *args, "status"], capture_output=True, text=True, timeout=30)
            check(p.returncode == 0, "smtpwatchctl %s status reaches the instance (%d)" % (" ".join(args), p.returncode))
        p = subprocess.run([SMTPWATCHCTL, "-i", name + "-none", "status"], capture_output=True, text=True, timeout=30)
        check(p.returncode == 3 and "/run/smtpwatch-%s-none/control.sock" % name in p.stderr,
              "-i of an instance that does not run: exit 3, naming its socket path (%d: %s)"
              % (p.returncode, p.stderr.strip()[:200]))
    finally:
        env.close()
        shutil.rmtree(rundir, ignore_errors=True)


def build_dir():
    """The build tree of the binaries under test (build/daemon/smtpwatchd)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(SMTPWATCHD)))


def build_options(build):
    p = subprocess.run(["meson", "introspect", build, "--buildoptions"], capture_output=True, text=True, timeout=60)
    return {o["name"]: o["value"] for o in json.loads(p.stdout)}


def test_install():
    if shutil.which("meson") is None:
        skip("meson install --destdir", "meson is not in PATH")
        return
    build = build_dir()
    opts = build_options(build)
    prefix = opts["prefix"]
    at = lambda d: d if os.path.isabs(d) else os.path.join(prefix, d)  # noqa: E731
    bindir, sbindir, sysconfdir, mandir, datadir = (at(opts[k]) for k in
                                                    ("bindir", "sbindir", "sysconfdir", "mandir", "datadir"))
    dest = tempfile.mkdtemp(prefix="sw-destdir-")
    try:
        inst = lambda: subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest],  # noqa
                                      capture_output=True, text=True, timeout=240)
        p = inst()
        check(p.returncode == 0, "meson install --destdir succeeds (%s)" % p.stderr.strip()[-300:])
        D = lambda path: dest + path  # noqa: E731
        for name, where in (("smtpwatchd", sbindir), ("smtpwatchctl", bindir)):
            f = D(os.path.join(where, name))
            check(os.access(f, os.X_OK), "%s is installed in %s" % (name, f[len(dest):]))
        check(not os.path.exists(D(os.path.join(sbindir, "smtpwatchctl"))),
              "smtpwatchctl is not in sbindir (off a group member's PATH)")
        unit = D(os.path.join(prefix, "lib", "systemd", "system", "smtpwatchd.service"))
        check(os.path.exists(unit), "the unit is installed in lib/systemd/system")
        tmpl = D(os.path.join(prefix, "lib", "systemd", "system", "smtpwatchd@.service"))
        check(os.path.exists(tmpl), "the template smtpwatchd@.service is installed in lib/systemd/system")
        if os.path.exists(tmpl):
            want = "%s/smtpwatchd -c %s/smtpwatch/%%i.conf" % (sbindir, sysconfdir)
            got = unit_directives(tmpl).get("ExecStart")
            check(got == [want], "the installed template's ExecStart= is %s (%s)" % (want, got))
        if os.path.exists(unit):
            u = unit_directives(unit)
            want = "%s/smtpwatchd -c %s/smtpwatch/smtpwatch.conf" % (sbindir, sysconfdir)
            check(u.get("ExecStart") == [want], "the installed unit's ExecStart= is %s (%s)" % (want, u.get("ExecStart")))
        for d in ("sysusers.d", "tmpfiles.d"):
            check(os.path.exists(D(os.path.join(prefix, "lib", d, "smtpwatch.conf"))),
                  "lib/%s/smtpwatch.conf is installed" % d)
        etc = D(os.path.join(sysconfdir, "smtpwatch"))
        live = [os.path.join(r, f)[len(dest):] for r, _, fs in os.walk(etc) for f in fs]
        check(not live, "no live config is installed under %s (%s)" % (etc[len(dest):], live))
        sim = [os.path.join(r, f)[len(dest):] for r, ds, fs in os.walk(dest) for f in fs + ds if "smtpwatch-sim" in f
               or (f == "scenarios")]
        check(not sim, "the simulator is not installed without -Dinstall_sim=true (%s)" % sim)
        comp = D(os.path.join(datadir, "bash-completion", "completions", "smtpwatchctl"))
        check(os.path.exists(comp), "the bash completion is installed as %s" % comp[len(dest):])
        for name in ("smtpwatch.conf", "exceptions-contoso.conf"):
            check(os.path.exists(D(os.path.join(datadir, "doc", "smtpwatch", "examples", name))),
                  "share/doc/smtpwatch/examples/%s is installed" % name)
        pages = [("man8", "smtpwatchd.8"), ("man8", "smtpwatchctl.8"), ("man5", "smtpwatch.conf.5")]
        for sec, page in pages:
            f = D(os.path.join(mandir, sec, page))
            check(os.path.exists(f), "man page %s/%s is installed" % (sec, page))
            if os.path.exists(f) and shutil.which("man"):
                r = subprocess.run(["man", "--warnings", "-l", f], capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat"))
                check(r.returncode == 0 and not r.stderr.strip() and "SEE ALSO" in r.stdout,
                      "man -l %s renders without warnings (%s)" % (page, r.stderr.strip()[:200]))
        for cat in [c for c in os.listdir(os.path.join(SRC, "systemd")) if c.endswith(".catalog")]:
            found = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs if f == cat]
            check(bool(found), "the journald catalog %s is installed (%s)" % (cat, [f[len(dest):] for f in found]))

        # An admin's config (written from the examples) survives a reinstall.
        conf = os.path.join(etc, "smtpwatch.conf")
        os.makedirs(etc, exist_ok=True)
        with open(conf, "w") as f:
            f.write("; written by the admin\n")
        p = inst()
        with open(conf) as f:
            kept = f.read() == "; written by the admin\n"
        check(p.returncode == 0 and kept, "a second meson install leaves the admin's config alone")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_man_lint():
    """Every page in man/ (smtpwatch-sim.1 included) is mandoc -Tlint clean at warning level."""
    pages = sorted(glob.glob(os.path.join(SRC, "man", "*.[158]")))
    check(any(p.endswith("smtpwatch-sim.1") for p in pages), "man/smtpwatch-sim.1 exists")
    if shutil.which("mandoc") is None:
        skip("mandoc -Tlint on man/*", "mandoc is not installed (Debian: apt-get install mandoc)")
        return
    for page in pages:
        p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", page], capture_output=True, text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out, "mandoc -Tlint -Wwarning %s is clean (%s)" % (os.path.basename(page),
                                                                                         out[:300]))


def test_install_sim():
    """-Dinstall_sim=true installs the simulator (tag sim) under its own names."""
    if shutil.which("meson") is None or shutil.which("ninja") is None:
        skip("meson install --tags sim", "meson or ninja is not in PATH")
        return
    tmp = tempfile.mkdtemp(prefix="sw-sim-install-")
    try:
        build, dest = os.path.join(tmp, "build"), os.path.join(tmp, "dest")
        p = subprocess.run(["meson", "setup", build, SRC, "-Dinstall_sim=true", "--prefix=/usr"],
                           capture_output=True, text=True, timeout=240)
        if p.returncode == 0:
            p = subprocess.run(["ninja", "-C", build, "sim/smtpwatch-sim"], capture_output=True, text=True,
                               timeout=600)
        if p.returncode == 0:
            p = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--tags", "sim", "--destdir", dest],
                               capture_output=True, text=True, timeout=240)
        check(p.returncode == 0, "meson install --tags sim with -Dinstall_sim=true (%s)" % p.stderr.strip()[-300:])
        got = sorted(os.path.join(r, f)[len(dest):] for r, _, fs in os.walk(dest) for f in fs)
        want = ["/usr/bin/smtpwatch-sim", "/usr/share/man/man1/smtpwatch-sim.1",
                "/usr/share/smtpwatch-sim/scenarios/demo.json", "/usr/share/smtpwatch-sim/scenarios/foundation.json"]
        check(got == want, "the sim tag installs the simulator, its man page and scenarios only (%s)" % got)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """Samples {(name, frozenset(labels)): value} and the problems found."""
    samples, problems, typed = {}, [], {}
    if not text.endswith("\n"):
        problems.append("the text does not end with a newline")
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4:
                problems.append("line %d: bad comment %r" % (n, line))
            elif parts[1] == "TYPE":
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    problems.append("line %d: bad type %r" % (n, line))
                typed[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line:
            problems.append("line %d: unexpected %r" % (n, line))
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not `name{labels} value`: %r" % (n, line))
            continue
        name = m.group(1)
        if name not in typed:
            problems.append("line %d: %s has no # TYPE line before it" % (n, name))
        if typed.get(name) == "counter" and not name.endswith("_total"):
            problems.append("line %d: counter %s does not end in _total" % (n, name))
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        if (name, labels) in samples:
            problems.append("line %d: duplicate series %r" % (n, line))
        samples[(name, labels)] = float(m.group(3))
    return samples, problems


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def iso_epoch(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def metrics(env):
    rc, text = env.ctl("metrics", json_out=False)
    check(rc == 0, "smtpwatchctl metrics exits 0 (%s)" % (text[:200] if rc else rc))
    return parse_prometheus(text if rc == 0 else "")


def test_metrics():
    env = Env("metrics")
    env.syslog = SyslogSink(env.syslog_path)
    try:
        env.start_daemon()
        wait_for(lambda: (env.source() or {}).get("last_success"), timeout=60, what="first sign-ins run")
        wait_for(lambda: env.sim.hooks("soc"), timeout=30, what="webhook delivery")
        wait_for(lambda: env.syslog.drain(), timeout=15, what="syslog frame")
        wait_for(lambda: env.status() and all(s.get("queued") == 0 for s in env.status()["sinks"].values()),
                 timeout=30, what="empty queues")

        s, problems = metrics(env)
        check(not problems, "the output parses as Prometheus text (%s)" % problems[:3])
        check(value(s, "smtpwatch_records_total", tenant="contoso", source="signins") == 14,
              "smtpwatch_records_total{tenant=contoso,source=signins} is 14 (%s)"
              % value(s, "smtpwatch_records_total", tenant="contoso", source="signins"))
        check(value(s, "smtpwatch_source_up", tenant="contoso", source="signins") == 1, "the sign-ins source is up")
        last = value(s, "smtpwatch_source_last_success_timestamp_seconds", tenant="contoso", source="signins")
        st = env.source() or {}
        check(last is not None and st.get("last_success") and last == iso_epoch(st["last_success"]),
              "the last success matches status (%s, %s)" % (last, st.get("last_success")))
        check(value(s, "smtpwatch_alerts", rule=RULE, state="firing") == 1,
              "smtpwatch_alerts{rule=%s,state=firing} is 1" % RULE)
        check(value(s, "smtpwatch_alerts", rule="smtp-auth-password-spray", state="firing") == 0,
              "a rule without alerts shows 0")
        check(value(s, "smtpwatch_alerts_firing", severity="high") == 1, "one high alert firing")
        check((value(s, "smtpwatch_outbox", sink="soc", state="delivered") or 0) >= 1,
              "smtpwatch_outbox{sink=soc,state=delivered} >= 1")
        check(value(s, "smtpwatch_outbox", sink="soc", state="pending") == 0, "nothing pending for soc")
        check(value(s, "smtpwatch_deliveries_total", sink="soc", outcome="delivered") == 1,
              "one delivery to soc counted")
        check(value(s, "smtpwatch_deliveries_total", sink="local", outcome="delivered") == 1,
              "one delivery to the syslog sink counted")
        check(value(s, "smtpwatch_queue_depth", sink="soc", type="webhook") == 0, "the soc queue is empty")
        check((value(s, "smtpwatch_sink_last_success_timestamp_seconds", sink="soc") or 0) > time.time() - 3600,
              "the soc sink's last success is recent")
        check(value(s, "smtpwatch_throttles_total", tenant="contoso", source="signins") == 0, "no throttling yet")

        # A 429 burst shows up as throttles, new records as a higher count.
        env.sim.add_signins("contoso.onmicrosoft.com", [
            {"at": "-5m", "user": "scanner3@contoso.com", "ip": "198.51.100.8", "country": "NL",
             "error_code": 0, "count": 6, "every": "30s"}])
        env.sim.faults([{"endpoint": "signins", "status": 429, "retry_after": 1, "count": 2}])
        env.ctl("poll")
        wait_for(lambda: (env.source() or {}).get("records") == 20 and env.source()["state"] == "ok", timeout=60,
                 what="records after the 429 burst")
        s, problems = metrics(env)
        check(not problems, "the output still parses (%s)" % problems[:3])
        check(value(s, "smtpwatch_records_total", tenant="contoso", source="signins") == 20,
              "records_total follows the new records (%s)"
              % value(s, "smtpwatch_records_total", tenant="contoso", source="signins"))
        check((value(s, "smtpwatch_throttles_total", tenant="contoso", source="signins") or 0) >= 2,
              "smtpwatch_throttles_total counts the 429s (%s)"
              % value(s, "smtpwatch_throttles_total", tenant="contoso", source="signins"))

        rc, doc = env.ctl("metrics")
        check(rc == 0 and isinstance(doc, dict) and doc.get("text", "").startswith("# HELP "),
              "--json metrics answers {\"text\": ...}")
    finally:
        env.syslog.close()
        env.close()


def main():
    test_unit()
    test_template()
    test_instance_socket()
    test_install()
    test_man_lint()
    test_install_sim()
    test_metrics()
    finish()


if __name__ == "__main__":
    main()
