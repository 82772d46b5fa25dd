"""A hostile or broken Microsoft endpoint (issue 21): next links to another
origin or in a loop, token answers with absurd lifetimes, proxy variables
in the daemon's environment.  A trap listener on another loopback port
records every request that reaches it (and whether it carried a bearer
token): where the daemon must not go, it must stay empty."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import SCENARIOS, SMTPWATCHD, Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"


class Trap:
    """An HTTP listener on 127.0.0.1 that answers 200 {} and records each
    request: (method, path, Authorization header or None).  As a proxy it
    sees absolute URLs or CONNECT lines, which are recorded the same way."""

    def __init__(self, addr="127.0.0.1", port=0):
        self.requests = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                trap.requests.append((self.command, self.path, self.headers.get("Authorization")))
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_CONNECT = _record

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((addr, port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://%s:%d" % (addr, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def first_run(env, source="signins"):
    src = wait_for(lambda: (env.source(source) or {}).get("state") == "ok" and env.source(source), timeout=60,
                   what="first %s run" % source)
    check(bool(src), "the first %s run completes" % source)
    return src


def poll_until_logged(env, text, what, timeout=40):
    before = len(env.log_text())
    env.ctl("poll")
    return wait_for(lambda: text in env.log_text()[before:], timeout=timeout, what=what)


def test_foreign_next_link():
    """#6: a nextLink to another origin is not followed: no request, no
    token reaches it, the run fails naming the host, and the next clean
    run catches up."""
    trap = Trap()
    env = Env("hostile-link")
    try:
        env.start_daemon()
        before = first_run(env)["records"]
        first_run(env, "exchange")
        env.sim.add_signins(TENANT, [{"at": "-5m", "user": "link@contoso.com", "ip": "192.0.2.77",
                                      "error_code": 50126, "count": 3, "every": "10s"}])
        foreign = trap.url + "/v1.0/auditLogs/signIns?$skiptoken=stolen"
        env.sim.faults([{"endpoint": "signins", "next_link": foreign, "count": 1},
                        {"endpoint": "exchange", "next_link": trap.url + "/adminapi/beta/x/InvokeCommand",
                         "count": 1}])
        said = poll_until_logged(env, "leads to http://127.0.0.1:%d" % trap.port, "the refused-link line")
        check(bool(said), "the log names the other origin (127.0.0.1:%d)" % trap.port)
        said = wait_for(lambda: env.log_text().count("leads to http://127.0.0.1:%d" % trap.port) >= 2,
                        timeout=40, what="the exchange line")
        check(bool(said), "the Exchange run refuses its foreign paging link too")
        time.sleep(1)
        check(trap.requests == [], "no request reached the other origin (%s)" % [r[:2] for r in trap.requests[:3]])
        check(not any(a for _, _, a in trap.requests), "and no Authorization header")
        src = env.source()
        check("not followed" in (src.get("last_error") or "") and src["state"] == "failing",
              "status: the sign-ins source is failing with the reason (%s)" % src.get("last_error"))
        env.sim.clear_faults()
        env.ctl("poll")
        got = wait_for(lambda: (env.source() or {}).get("state") == "ok"
                       and env.source()["records"] == before + 3 and env.source(), timeout=60, what="catch-up")
        check(bool(got), "a clean run afterwards stores the sign-ins (%s)" % (env.source() or {}).get("records"))
        check(env.daemon.poll() is None, "the daemon stays up")
    finally:
        env.close()
        trap.close()


def test_link_loop():
    """#6: a nextLink that repeats a request of the run stops it."""
    env = Env("hostile-loop")
    try:
        env.start_daemon()
        first_run(env)
        stats0 = env.sim.stats()["requests"]["signins"]
        # page 1 links to page 2 as usual; page 2 then links to itself
        env.sim.faults([{"endpoint": "signins", "after": 1, "next_link_loop": True, "count": -1}])
        said = poll_until_logged(env, "paging loop", "the loop line")
        check(bool(said), "the log says the run met a paging loop")
        time.sleep(2)
        n = env.sim.stats()["requests"]["signins"] - stats0
        check(n <= 3, "the run stopped at the repeated link (%d sign-ins requests)" % n)
        check(env.source()["state"] == "failing", "the source is failing")
        check(env.daemon.poll() is None, "the daemon stays up")
    finally:
        env.close()


def paging_scenario(token_lifetime):
    """foundation's tenant with one record a page, so a run takes a page
    request every two seconds for over a minute (Graph pacing: 5 per 10 s),
    and tokens that live token_lifetime seconds."""
    with open(os.path.join(SCENARIOS, "foundation.json")) as f:
        sc = json.load(f)
    sc["page_size"] = 1
    sc["token_lifetime"] = token_lifetime
    sc["tenants"][TENANT]["signins"].append({"at": "-50m", "every": "1m", "count": 40,
                                             "user": "pager@contoso.com", "ip": "192.0.2.80",
                                             "error_code": 50126})
    d = tempfile.mkdtemp(prefix="sw-hostile-sc-")
    path = os.path.join(d, "paging.json")
    with open(path, "w") as f:
        json.dump(sc, f)
    return path


def token_requests_over(env, seconds):
    """Token requests the simulator counted while the daemon ran for about
    seconds, and the seconds that really passed (an upper bound)."""
    t0 = time.monotonic()
    env.start_daemon()
    deadline = t0 + seconds * harness.SCALE
    while time.monotonic() < deadline:
        time.sleep(0.5)
    n = env.sim.stats()["requests"]["token"]
    return n, time.monotonic() - t0


def paced_bound(elapsed):
    """What the pacing allows: per resource (Graph and Exchange) one token
    request per 10 s, the first at once."""
    return 2 * (int(elapsed // 10) + 1)


def signins_stored(env):
    with env.db() as db:
        return db.execute("SELECT count(*) FROM signins").fetchone()[0]


def test_token_lifetimes():
    """#9: tokens that live 1 s, or whose expires_in overflows or is
    missing, do not turn every page into a token request, and sign-ins
    are still fetched."""
    cases = [
        ("expires_in 1", paging_scenario(1), [], None),
        ("expires_in 2^63-1", paging_scenario(3599),
         [{"endpoint": "token", "expires_in_raw": "9223372036854775807", "count": -1}], "over 24 hours"),
        ("expires_in 1e30", paging_scenario(3599),
         [{"endpoint": "token", "expires_in_raw": "1000000000000000000000000000000", "count": -1}],
         "over 24 hours"),
        ("no expires_in", paging_scenario(3599), [{"endpoint": "token", "expires_in_raw": "", "count": -1}],
         "absent: taken as 300s"),
    ]
    for what, scenario, faults, says in cases:
        env = Env("hostile-token", scenario=scenario)
        try:
            if faults:
                env.sim.faults(faults)
            n, elapsed = token_requests_over(env, 20)
            bound = paced_bound(elapsed)
            print("# %s: %d token requests in %.1f s (bound %d)" % (what, n, elapsed, bound))
            check(1 <= n <= bound, "%s: %d token requests in %.0f s, at most %d" % (what, n, elapsed, bound))
            got = signins_stored(env)
            check(got >= 5, "%s: sign-ins are still fetched (%d stored)" % (what, got))
            log = env.log_text()
            if says is not None:
                check(log.count(says) == 1, "%s: the log says so once (%r, %d times)" % (what, says,
                                                                                       log.count(says)))
            check(env.daemon.poll() is None, "%s: the daemon stays up" % what)
        finally:
            env.close()
            shutil.rmtree(os.path.dirname(scenario), ignore_errors=True)


def localhost_conf(env, host):
    """env's config with every Microsoft URL on host:SIMPORT."""
    text = open(env.conf).read().replace(env.sim.url + "\n", "http://%s:%d\n" % (host, env.sim.port))
    path = os.path.join(env.dir, "localhost-%s.conf" % host.replace(".", "_"))
    with open(path, "w") as f:
        f.write(text)
    return path


def test_loopback_names():
    """#12: http:// is for loopback, and loopback is a literal address or
    exactly localhost: localhost. and localhost.example are refused by
    --check-config; localhost itself works, pinned to 127.0.0.1/::1 even
    where /etc/hosts says otherwise."""
    env = Env("hostile-localhost")
    try:
        for host in ("localhost.", "LOCALHOST.", "localhost.example"):
            p = subprocess.run([SMTPWATCHD, "-c", localhost_conf(env, host), "--check-config"],
                               capture_output=True, text=True, timeout=30)
            out = p.stdout + p.stderr
            check(p.returncode == 1 and "login_url" in out and "loopback" in out,
                  "--check-config refuses http://%s (exit %d: %s)" % (host, p.returncode, out.strip()[:100]))
        good = localhost_conf(env, "localhost")
        p = subprocess.run([SMTPWATCHD, "-c", good, "--check-config"], capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "--check-config accepts http://localhost:PORT (exit %d)" % p.returncode)
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            print("# skipped the /etc/hosts check: needs root and unshare(1)")
            return
        # In a mount namespace of its own, /etc/hosts sends localhost to
        # 127.0.0.2, where a trap listens on the simulator's port.
        trap = None
        try:
            trap = Trap("127.0.0.2", env.sim.port)
        except OSError as e:
            print("# skipped the /etc/hosts check: cannot listen on 127.0.0.2 (%s)" % e)
            return
        hosts = os.path.join(env.dir, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.2 localhost\n")
        os.replace(good, env.conf)
        harness.WRAP[:0] = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts]
        try:
            env.start_daemon()
        finally:
            del harness.WRAP[:6]
        src = first_run(env)
        check(src and src["records"] > 0, "with localhost in the URLs the daemon reads the simulator")
        check(trap.requests == [], "nothing went where /etc/hosts points localhost (%s)"
              % [r[:2] for r in trap.requests[:3]])
        trap.close()
    finally:
        env.close()


PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def test_proxy():
    """#13: libcurl takes no proxy from the environment; the configured
    proxy carries only what is not loopback.  No request leaves this
    machine: the one non-loopback URL (a sink on example.invalid) goes to
    the configured proxy, a trap on loopback, as a CONNECT line."""
    env_trap, cfg_trap = Trap(), Trap()
    remote = "https://hooks.example.invalid/soc"
    sinks = ("[sink soc]\ntype = webhook\nurl = %s/hooks/soc\nmin_severity = info\n\n"
             "[sink remote]\ntype = webhook\nurl = %s\nmin_severity = info\n" % ("%s", remote))
    env = Env("hostile-proxy", extra_conf="proxy = %s\n" % cfg_trap.url, sinks="")
    try:
        with open(env.conf, "a") as f:
            f.write(sinks % env.sim.url)
        bad = os.path.join(env.dir, "bad-proxy.conf")
        with open(bad, "w") as f:
            f.write(open(env.conf).read().replace("proxy = %s" % cfg_trap.url, "proxy = http://proxy.example"))
        p = subprocess.run([SMTPWATCHD, "-c", bad, "--check-config"], capture_output=True, text=True, timeout=30)
        out = p.stdout + p.stderr
        check(p.returncode == 1 and "bad-proxy.conf:" in out and "proxy: the proxy's port is missing" in out,
              "--check-config refuses a proxy without a port, with file:line (%s)" % out.strip()[:120])
        os.environ.pop("no_proxy", None)
        os.environ.pop("NO_PROXY", None)
        env.start_daemon(env={k: env_trap.url for k in PROXY_VARS})
        src = first_run(env)
        first_run(env, "exchange")
        check(src and src["records"] > 0, "the daemon reads the simulator with proxy variables in its environment")
        hooks = wait_for(lambda: env.sim.hooks("soc"), timeout=30, what="an alert on the loopback sink")
        check(bool(hooks), "and delivers to the loopback sink")
        connect = wait_for(lambda: [r for r in cfg_trap.requests if r[0] == "CONNECT"], timeout=30,
                           what="the remote sink through the proxy")
        check(bool(connect) and connect[0][1] == "hooks.example.invalid:443",
              "the non-loopback sink goes through the configured proxy (%s)" % [r[:2] for r in connect[:1]])
        check([r for r in cfg_trap.requests if r[0] != "CONNECT"] == [],
              "loopback requests never go through the configured proxy (%s)"
              % [r[:2] for r in cfg_trap.requests if r[0] != "CONNECT"][:3])
        check(env_trap.requests == [], "the environment's proxy gets nothing (%s)"
              % [r[:2] for r in env_trap.requests[:3]])
        check(not any(a for _, _, a in env_trap.requests + cfg_trap.requests), "no proxy saw an Authorization header")
        check(env.daemon.poll() is None, "the daemon stays up")
    finally:
        env.close()
        env_trap.close()
        cfg_trap.close()


def main():
    test_foreign_next_link()
    test_link_loop()
    test_token_lifetimes()
    test_loopback_names()
    test_proxy()
    finish()


if __name__ == "__main__":
    main()
