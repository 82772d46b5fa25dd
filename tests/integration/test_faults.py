"""The fault matrix against the sign-ins source: for each fault the
simulator injects, the daemon stays up, logs one clear line naming it,
loses nothing, and catches up (every new sign-in is stored)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Env, check, finish, wait_for  # noqa: E402

TENANT = "contoso.onmicrosoft.com"

# (name, faults, what the log line says, needs a second poll)
ROWS = [
    ("HTTP 500", [{"endpoint": "signins", "status": 500, "count": 1}], "HTTP 500", False),
    ("HTTP 502", [{"endpoint": "signins", "status": 502, "count": 1}], "HTTP 502", False),
    ("HTTP 504", [{"endpoint": "signins", "status": 504, "count": 1}], "HTTP 504", False),
    ("429 storm", [{"endpoint": "signins", "status": 429, "retry_after": 1, "count": 5}], "throttled", False),
    # libcurl retries a reused connection that was closed under it on its
    # own, so a reset may leave no line at all: only catching up counts.
    ("connection reset", [{"endpoint": "signins", "reset": True, "count": 1}], None, False),
    ("truncated body", [{"endpoint": "signins", "truncate": True, "count": 1}], "request failed", False),
    ("truncated JSON", [{"endpoint": "signins", "bad_json": True, "count": 1}], "malformed page", False),
    ("invalid UTF-8", [{"endpoint": "signins", "invalid_utf8": True, "count": 1}], "malformed page", False),
    ("50 MB body", [{"endpoint": "signins", "big_body_mb": 50, "count": 1}], "larger than 32 MiB", False),
    ("wrong content type", [{"endpoint": "signins", "content_type": "text/html", "count": 1}],
     "unexpected content type", False),
    ("expired skip token (400)", [{"endpoint": "signins", "after": 1, "status": 400, "count": 1}], "HTTP 400",
     True),
    ("token expired mid-paging", [{"endpoint": "signins", "after": 1, "expire_token": True, "count": 1}],
     "renewing the token", False),
    ("token endpoint 503", [{"endpoint": "token", "status": 503, "retry_after": 1, "count": 1},
                            {"endpoint": "signins", "expire_token": True, "count": 1}], "503", False),
]


def main():
    # page_size 50: a run is one or two pages, so rows stay quick.
    env = Env("faults", scenario="exchange.json")
    try:
        env.start_daemon()
        src = wait_for(lambda: (env.source() or {}).get("state") == "ok" and env.source(), timeout=60,
                       what="first run")
        check(bool(src), "the first run completes")
        expected = src["records"] if src else 0
        for i, (name, faults, says, second_poll) in enumerate(ROWS):
            user = "row%02d@contoso.com" % i
            env.sim.add_signins(TENANT, [{"at": "-2m", "user": user, "ip": "192.0.2.%d" % (i + 10),
                                          "country": "NL", "error_code": 50126, "count": 5, "every": "10s"}])
            expected += 5
            log_before = len(env.log_text())
            env.sim.faults(faults)
            env.ctl("poll")
            if second_poll:
                wait_for(lambda: says in env.log_text()[log_before:], timeout=30, what=name)
                wait_for(lambda: not env.source()["state"] == "running", timeout=30)
                env.ctl("poll")
            got = wait_for(lambda: (env.source() or {}).get("records") == expected
                           and env.source()["state"] == "ok" and env.source(), timeout=60, what=name)
            log = env.log_text()[log_before:]
            check(env.daemon.poll() is None, "%s: the daemon stays up" % name)
            if says is not None:
                check(says in log, "%s: the log says so (%r)" % (name, says))
            check(bool(got), "%s: nothing lost, it catches up (%s of %d records)"
                  % (name, (env.source() or {}).get("records"), expected))
            env.sim.clear_faults()
        log = env.log_text()
        check("sim-secret-contoso" not in log and "Bearer " not in log, "no secret or token in any line")
        rc, st = env.ctl("status")
        check(rc == 0, "status still answers")
    finally:
        env.close()
    finish()


if __name__ == "__main__":
    main()
