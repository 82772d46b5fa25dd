"""Integration harness: the real simulator, daemon and smtpwatchctl on
loopback, a real database in a temporary directory, and real sinks (the
simulator's webhook receiver, a UNIX datagram socket for syslog).

Every wait is bounded: a test fails instead of hanging."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SMTPWATCHD = os.environ.get("SMTPWATCHD", "smtpwatchd")
SMTPWATCHCTL = os.environ.get("SMTPWATCHCTL", "smtpwatchctl")
SIM = os.environ.get("SMTPWATCH_SIM", "smtpwatch-sim")
SCENARIOS = os.environ.get("SW_SCENARIOS", "sim/scenarios")
# Run the daemon under a wrapper (e.g. "valgrind --error-exitcode=99 -q").
WRAP = os.environ.get("SW_DAEMON_WRAPPER", "").split()
# Under valgrind the daemon runs tens of times slower: every wait grows.
SCALE = float(os.environ.get("SW_TIMEOUT_SCALE", "1"))

TENANT_ID = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-1111-1111-1111-111111111111"
SECRET = "sim-secret-contoso"

failures = 0


def check(cond, what):
    """Record one assertion; print it like TAP so the log reads well."""
    global failures
    if cond:
        print(f"ok - {what}", flush=True)
    else:
        failures += 1
        print(f"not ok - {what}", flush=True)
    return cond


def wait_for(pred, timeout=30.0, step=0.1, what="condition"):
    """Poll pred() until it returns a truthy value or the time is up
    (timeout times SW_TIMEOUT_SCALE)."""
    timeout *= SCALE
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            print(f"# timed out after {timeout}s waiting for {what}", flush=True)
            return v
        time.sleep(step)


class Sim:
    """smtpwatch-sim on an ephemeral loopback port."""

    def __init__(self, workdir, scenario):
        self.workdir = workdir
        portfile = os.path.join(workdir, "sim.port")
        self.log = open(os.path.join(workdir, "sim.log"), "w")
        self.proc = subprocess.Popen([SIM, "-s", scenario, "-p", "0", "--port-file", portfile],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        port = wait_for(lambda: os.path.exists(portfile) and open(portfile).read().strip(),
                        timeout=10, what="simulator port file")
        if not port:
            raise RuntimeError("simulator did not start; see " + self.log.name)
        self.port = int(port)
        self.url = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def hooks(self, name):
        return self.request("GET", f"/_sim/hooks/{name}") or []

    def faults(self, faults):
        return self.request("POST", "/_sim/faults", {"faults": faults})

    def clear_faults(self):
        return self.request("DELETE", "/_sim/faults")

    def stats(self):
        return self.request("GET", "/_sim/stats")

    def add_signins(self, tenant, series):
        return self.request("POST", f"/_sim/tenants/{tenant}/signins", {"signins": series})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class SyslogSink:
    """A UNIX datagram socket standing in for /dev/log."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.frames = []

    def drain(self):
        while True:
            try:
                self.frames.append(self.sock.recv(65536).decode("utf-8", "replace"))
            except (socket.timeout, BlockingIOError):
                return self.frames

    def close(self):
        self.sock.close()


class Env:
    """A temporary directory with config, secret, register and state dir."""

    def __init__(self, name, scenario="foundation.json", register=None, extra_conf="", sinks=None,
                 tenant_extra=""):
        self.dir = tempfile.mkdtemp(prefix=f"sw-{name}-")
        self.sim = Sim(self.dir, os.path.join(SCENARIOS, scenario))
        self.state = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.dir, "control.sock")
        self.secret = os.path.join(self.dir, "contoso.secret")
        with open(self.secret, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(self.secret, 0o600)
        self.register = os.path.join(self.dir, "exceptions-contoso.conf")
        with open(self.register, "w") as f:
            f.write(register if register is not None else
                    "[exception scanner-hq@contoso.com]\n"
                    "owner = facilities@contoso.com\n"
                    "justification = Ricoh MFP scan-to-mail, firmware has no OAuth\n"
                    "ticket = CHG-10422\n"
                    "expires = %s\n"
                    "allowed_ips = 203.0.113.0/28\n" % time.strftime("%Y-%m-%d", time.gmtime(time.time() + 40 * 86400)))
        self.syslog_path = os.path.join(self.dir, "log.sock")
        self.conf = os.path.join(self.dir, "smtpwatch.conf")
        if sinks is None:
            sinks = ("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nmin_severity = info\n\n"
                     "[sink local]\ntype = syslog\naddress = unix:%s\nfacility = authpriv\n" %
                     (self.sim.url, self.syslog_path))
        with open(self.conf, "w") as f:
            f.write("[daemon]\nstate_dir = %s\nsocket = %s\nsocket_group =\nallow_root = yes\n%s\n"
                    "[tenant contoso]\ntenant_id = %s\nclient_id = %s\nclient_secret_file = %s\n"
                    "login_url = %s\ngraph_url = %s\nexchange_url = %s\nexceptions = %s\n"
                    "signins_interval = 1h\nsignins_lookback = 2h\ninitial_backfill = 1d\n%s\n%s" %
                    (self.state, self.socket, extra_conf, TENANT_ID, CLIENT_ID, self.secret,
                     self.sim.url, self.sim.url, self.sim.url, self.register, tenant_extra, sinks))
        self.daemon = None
        self.daemon_log = os.path.join(self.dir, "daemon.log")

    def start_daemon(self, *args, env=None):
        """Start smtpwatchd in the foreground; env adds to its environment."""
        self.dlog = open(self.daemon_log, "a")
        self.daemon = subprocess.Popen(WRAP + [SMTPWATCHD, "-c", self.conf, "-d", *args],
                                       stdout=self.dlog, stderr=subprocess.STDOUT,
                                       env=dict(os.environ, **env) if env else None)
        ok = wait_for(lambda: os.path.exists(self.socket) or self.daemon.poll() is not None,
                      timeout=30, what="control socket")
        if self.daemon.poll() is not None or not ok:
            raise RuntimeError("daemon did not start:\n" + self.log_text())
        return self.daemon

    def run_once(self, *args, timeout=120):
        with open(self.daemon_log, "a") as dlog:
            p = subprocess.run(WRAP + [SMTPWATCHD, "-c", self.conf, "--once", "-d", *args],
                               stdout=dlog, stderr=subprocess.STDOUT, timeout=timeout * SCALE)
        return p.returncode

    def stop_daemon(self, timeout=20):
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout * SCALE)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                return "killed"
        rc = self.daemon.returncode
        self.daemon = None
        self.dlog.close()
        return rc

    def ctl(self, *args, json_out=True):
        cmd = [SMTPWATCHCTL, "-s", self.socket] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30 * SCALE)
        if json_out and p.returncode == 0:
            return p.returncode, json.loads(p.stdout)
        return p.returncode, p.stdout + p.stderr

    def status(self):
        rc, s = self.ctl("status")
        return s if rc == 0 else None

    def source(self, source="signins", tenant="contoso"):
        s = self.status()
        return s["tenants"][tenant]["sources"][source] if s else None

    def alerts_paged(self, *args, page=500):
        """Every alert `smtpwatchctl alerts ARGS` lists, read a page at a
        time with --limit/--after as an operator's script would over a big
        store (one reply of thousands of documents can outlast the
        30 s timeout under valgrind).  Fails naming the page that failed."""
        out, after = [], None
        for n in range(10000):
            rc, r = self.ctl("alerts", *args, "--limit", str(page), *(["--after", after] if after else []))
            if rc != 0 or not isinstance(r, dict):
                raise AssertionError("smtpwatchctl alerts, page %d after %s: rc %d: %s"
                                     % (n + 1, after, rc, str(r)[:300]))
            out.extend(r.get("alerts", []))
            if not r.get("more"):
                return out
            after = r.get("next")
        raise AssertionError("smtpwatchctl alerts: more than 10,000 pages")

    def log_text(self):
        try:
            with open(self.daemon_log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def db(self):
        import sqlite3
        return sqlite3.connect(os.path.join(self.state, "smtpwatch.db"))

    def close(self):
        self.stop_daemon()
        self.sim.stop()
        if failures == 0 and not os.environ.get("SW_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"# kept {self.dir} for inspection", flush=True)


def finish():
    """Exit with the count of failed assertions, as a plain closing line."""
    print(f"{'FAILED' if failures else 'PASSED'}: {failures} failed assertion(s)", flush=True)
    sys.exit(1 if failures else 0)
