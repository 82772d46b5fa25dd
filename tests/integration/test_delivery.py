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
"""

import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

N_SENDERS = 30
RULE = "unapproved-basic-auth-submission"


class Receiver:
    """A webhook receiver on an ephemeral loopback port: one thread per
    connection, a delay before each answer, a status per path, and the
    most requests it ever served at once per path."""

    def __init__(self, delay=0.0):
        self.delay = delay
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


def alert_keys(env):
    """The Idempotency-Keys of every alert the daemon stored (the webhook
    sinks want them all)."""
    rc, lst = env.ctl("alerts", "--all")
    alerts = lst if isinstance(lst, list) else (lst or {}).get("alerts", [])
    return {"%s-%d" % (a["id"], a["transition"]) for a in alerts} if rc == 0 else set()


def main():
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
