#!/usr/bin/env python3
"""bench_start.py: smtpwatchd started on a big store (issue 22 #4).

Copies a database bench_ingest wrote (`bench_ingest -m smtpwatch -n N -o
PATH -t contoso`), starts the daemon on it against the simulator
(foundation scenario) and, from the moment its control socket answers
until it settled, asks for `status` and `alerts` in turn, each on a fresh
connection as smtpwatchctl makes them, every 50 ms: the round trips
"during".  Settled: the first sign-ins run is done, detection's cursor
(checkpoint "detect") reached the last stored sign-in, and the daemon's
CPU time stopped moving for a second.  Then REQUESTS round trips of each
"after".  Prints key=value lines:

  open_s           start to the control socket answering (quick_check and
                   migrations run before the loop, see smtpwatchd.c)
  detect_done_s    start to detection's cursor at the last sign-in
  settle_s         start to settled
  stall_max_ms     the daemon's own stall probe (status loop.stall_max_ms)
  stall_max_cpu_ms the loop's CPU over that stall's interval (loop.stall_max_cpu_ms;
                   n/a before it existed): far below stall_max_ms, the
                   machine did not run the daemon
  stall_max_step   the longest step the daemon measured beside that stall
                   (loop.stall_max_step: "detection of contoso 48 ms"; none:
                   no step measured; n/a before it existed)
  stalls_over_100ms
  during_{status,alerts}_{n,median_ms,p99_ms,max_ms}
  after_{status,alerts}_{median_ms,p99_ms,cpu_ms}, alerts_bytes, alerts_listed
                   (cpu_ms: the daemon's CPU per request, from /proc ticks)
  cpu_s            the daemon's user+system CPU until settled

  bench_start.py --db PATH [--build DIR]... [--requests N] [--timeout S]

Several --build directories run one after the other on fresh copies of
the same database (before/after a change, same machine, same run).
SW_DAEMON_WRAPPER (as in tests/integration/harness.py) runs the daemon
under a wrapper, a profiler for one; SW_KEEP=1 keeps its log, with a
debug line for each stall over 100 ms."""

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import threading
import time

from ctlclient import cpu_ticks, each_build, harness_for, pct, round_trip


class Prober(threading.Thread):
    """status and alerts in turn every 50 ms until stopped."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.times = path, threading.Event(), {"status": [], "alerts": []}
        self.last_status = None

    def run(self):
        cmds = [("status", b'{"cmd":"status"}\n'), ("alerts", b'{"cmd":"alerts"}\n')]
        i = 0
        while not self.stop.is_set():
            name, line = cmds[i % 2]
            i += 1
            try:
                dt, _, reply = round_trip(self.path, line)
            except (ConnectionError, FileNotFoundError, socket.timeout):
                time.sleep(0.05)
                continue
            self.times[name].append(dt * 1000)
            if name == "status":
                self.last_status = reply["data"]
            time.sleep(0.05)


def one(build, db, requests, timeout):
    harness = harness_for(build)

    env = harness.Env("bench-start", scenario="foundation.json", sinks="")
    out = {}
    try:
        os.makedirs(env.state, mode=0o700, exist_ok=True)
        path = os.path.join(env.state, "smtpwatch.db")
        shutil.copyfile(db, path)
        with sqlite3.connect(path) as con:
            last = con.execute("SELECT max(rowid) FROM signins").fetchone()[0] or 0
            out["stored_signins"] = con.execute("SELECT count(*) FROM signins").fetchone()[0]
        log = open(env.daemon_log, "a")
        t0 = time.monotonic()
        daemon = subprocess.Popen(harness.WRAP + [harness.SMTPWATCHD, "-c", env.conf, "-d"], stdout=log, stderr=subprocess.STDOUT)
        env.daemon, env.dlog = daemon, log
        while True:
            if daemon.poll() is not None:
                raise RuntimeError("daemon exited:\n" + env.log_text())
            try:
                round_trip(env.socket, b'{"cmd":"status"}\n', timeout=timeout)
                break
            except (ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        out["open_s"] = time.monotonic() - t0
        probe = Prober(env.socket)
        probe.start()
        ro = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        detect_done = None
        ticks, quiet_since = cpu_ticks(daemon.pid), None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            time.sleep(0.25)
            if detect_done is None:
                row = ro.execute("SELECT watermark FROM checkpoints WHERE tenant = 'contoso' AND source = 'detect'"
                                 ).fetchone()
                if row and row[0] >= last:
                    detect_done = time.monotonic() - t0
            st = probe.last_status
            ran = bool(st and st["tenants"]["contoso"]["sources"]["signins"].get("last_success"))
            now = cpu_ticks(daemon.pid)
            # The prober's own requests cost a tick now and then: quiet is
            # at most 2 ticks (20 ms) a quarter second.
            if now - ticks <= 2:
                quiet_since = quiet_since or time.monotonic()
            else:
                quiet_since = None
            ticks = now
            if detect_done is not None and ran and quiet_since and time.monotonic() - quiet_since >= 1.0:
                break
        ro.close()
        probe.stop.set()
        probe.join()
        out["detect_done_s"] = detect_done
        out["settle_s"] = (quiet_since or time.monotonic()) - t0
        with open("/proc/%d/stat" % daemon.pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        out["cpu_s"] = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        _, _, st = round_trip(env.socket, b'{"cmd":"status"}\n')
        loop = st["data"].get("loop", {})
        out["stall_max_ms"] = loop.get("stall_max_ms")
        out["stall_max_cpu_ms"] = loop.get("stall_max_cpu_ms", "n/a")
        step = loop.get("stall_max_step")
        out["stall_max_step"] = ("%s%s %s ms" % (step["what"], " of " + step["tenant"] if step.get("tenant") else "",
                                                 step["ms"]) if step else "none" if "stall_max_step" in loop else "n/a")
        out["stalls_over_100ms"] = loop.get("stalls_over_100ms")
        for name in ("status", "alerts"):
            t = probe.times[name]
            out["during_%s_n" % name] = len(t)
            out["during_%s_median_ms" % name] = statistics.median(t) if t else float("nan")
            out["during_%s_p99_ms" % name] = pct(t, 0.99)
            out["during_%s_max_ms" % name] = max(t) if t else float("nan")
        for name in ("status", "alerts"):
            line = (json.dumps({"cmd": name}) + "\n").encode()
            for _ in range(10):
                round_trip(env.socket, line)
            t = []
            c0 = cpu_ticks(daemon.pid)
            for _ in range(requests):
                dt, size, reply = round_trip(env.socket, line)
                t.append(dt * 1000)
            c1 = cpu_ticks(daemon.pid)
            out["after_%s_median_ms" % name] = statistics.median(t)
            out["after_%s_p99_ms" % name] = pct(t, 0.99)
            # The daemon's CPU per request: what load on the machine does
            # not change (the round trips above include waiting for a core).
            out["after_%s_cpu_ms" % name] = (c1 - c0) * 1000.0 / os.sysconf("SC_CLK_TCK") / requests
            if name == "alerts":
                out["alerts_bytes"] = size
                out["alerts_listed"] = len(reply["data"]["alerts"])
        with open("/proc/%d/status" % daemon.pid) as f:
            out["hwm_kb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    finally:
        env.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--build", action="append")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args()
    each_build(a.build, lambda build: one(build, a.db, a.requests, a.timeout))


if __name__ == "__main__":
    main()
