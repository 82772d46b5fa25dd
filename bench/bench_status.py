#!/usr/bin/env python3
"""bench_status.py: the daemon's footprint and control-socket latency.

1. Idle: smtpwatchd against the simulator (foundation scenario) after its
   first cycle, once its CPU time stops moving: VmRSS and VmHWM.
2. A database of N stored sign-ins written by bench_ingest (the daemon's
   ingest path; its peak RSS is the footprint "while ingesting N").
3. smtpwatchd started on that database (first cycle, detection over the N
   rows, ANALYZE), left to settle; then REQUESTS round trips each of
   {"cmd":"status"} and {"cmd":"alerts"}, each on a fresh connection as
   smtpwatchctl makes them: median and p99, reply bytes and the number
   of alerts listed; then 5 of {"cmd":"report"} in each --format (json,
   csv, html): median and worst, reply bytes.  Also the daemon's VmHWM.

Prints key=value lines (bench/run turns them into the table).
Usage: bench_status.py --build DIR [--records N] [--requests N] [--db PATH]

--db PATH starts from a copy of a database bench_ingest wrote before
(10M records take about 15 minutes to write) instead of writing one; the
ingest figures are then not printed."""

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time

from ctlclient import cpu_ticks, pct, round_trip

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup_env(build):
    os.environ.setdefault("SMTPWATCHD", os.path.join(build, "daemon", "smtpwatchd"))
    os.environ.setdefault("SMTPWATCHCTL", os.path.join(build, "daemon", "smtpwatchctl"))
    os.environ.setdefault("SMTPWATCH_SIM", os.path.join(build, "sim", "smtpwatch-sim"))
    os.environ.setdefault("SW_SCENARIOS", os.path.join(TOP, "sim", "scenarios"))
    sys.path.insert(0, os.path.join(TOP, "tests", "integration"))


def proc_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def settle(pid, quiet=1.0, timeout=900):
    """Wait until the process used no CPU for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ticks(pid)
        if now == last:
            return True
        last = now
    return False


def first_cycle(harness, env, timeout=900):
    return harness.wait_for(lambda: (env.source() or {}).get("last_success"), timeout=timeout, step=0.5,
                            what="first sign-ins run")


def probe_until_settled(env, timeout=900):
    """Ask for status every half second until the first sign-ins run is
    done and the daemon's CPU time stops moving.  Returns the longest
    round trip seen meanwhile: how long the event loop was blocked."""
    line = b'{"cmd":"status"}\n'
    deadline = time.monotonic() + timeout
    worst, done, last = 0.0, False, cpu_ticks(env.daemon.pid)
    while time.monotonic() < deadline:
        try:
            dt, _, reply = round_trip(env.socket, line, timeout=timeout)
        except (ConnectionError, FileNotFoundError, socket.timeout):
            time.sleep(0.5)
            continue
        worst = max(worst, dt)
        src = reply["data"]["tenants"]["contoso"]["sources"]["signins"]
        done = done or bool(src.get("last_success"))
        time.sleep(1.0)
        now = cpu_ticks(env.daemon.pid)
        if done and now == last:
            break
        last = now
    return worst


def latency(path, cmd, n):
    line = (json.dumps({"cmd": cmd}) + "\n").encode()
    for _ in range(10):  # warm up
        round_trip(path, line)
    times, size = [], 0
    for _ in range(n):
        dt, size, _ = round_trip(path, line)
        times.append(dt * 1000)
    return statistics.median(times), pct(times, 0.99), size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--db", help="start from a copy of this database instead of writing one")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    setup_env(build)
    import harness

    # 1. Idle footprint.
    env = harness.Env("bench-idle", scenario="foundation.json", sinks="")
    try:
        env.start_daemon()
        first_cycle(harness, env, timeout=60)
        settle(env.daemon.pid, quiet=2.0, timeout=60)
        print("idle_rss_kb=%d" % proc_kb(env.daemon.pid, "VmRSS"))
        print("idle_hwm_kb=%d" % proc_kb(env.daemon.pid, "VmHWM"), flush=True)
    finally:
        env.close()

    # 2. A database of N sign-ins through the ingest path.
    env = harness.Env("bench-status", scenario="foundation.json", sinks="")
    try:
        os.makedirs(env.state, mode=0o700, exist_ok=True)
        db = os.path.join(env.state, "smtpwatch.db")
        t0 = time.monotonic()
        if a.db:
            shutil.copyfile(a.db, db)
            with sqlite3.connect(db) as con:
                print("stored_records=%s" % con.execute("SELECT sum(n) FROM signin_counts").fetchone()[0])
        else:
            p = subprocess.run([os.path.join(build, "bench", "bench_ingest"), "-m", "smtpwatch", "-n",
                                str(a.records), "-o", db, "-t", "contoso"], capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError("bench_ingest failed: " + p.stderr)
            kv = dict(line.split("=", 1) for line in p.stdout.split() if "=" in line)
            print("stored_records=%s" % kv.get("smtpwatch_stored"))
            print("ingest_peak_rss_kb=%s" % kv.get("peak_rss_kb"))
            print("ingest_records_per_s=%s" % kv.get("smtpwatch_records_per_s"))
        print("db_build_s=%.0f" % (time.monotonic() - t0), flush=True)

        # 3. The daemon on it.
        t0 = time.monotonic()
        env.start_daemon()
        worst = probe_until_settled(env)
        print("daemon_settle_s=%.0f" % (time.monotonic() - t0))
        print("startup_worst_status_s=%.3f" % worst, flush=True)
        loop = (env.status() or {}).get("loop", {})
        print("startup_stall_max_ms=%s\nstartup_stalls_over_100ms=%s" %
              (loop.get("stall_max_ms"), loop.get("stalls_over_100ms")), flush=True)
        for cmd in ("status", "alerts"):
            med, p99, size = latency(env.socket, cmd, a.requests)
            print("%s_median_ms=%.3f\n%s_p99_ms=%.3f\n%s_reply_bytes=%d" % (cmd, med, cmd, p99, cmd, size))
        _, _, reply = round_trip(env.socket, b'{"cmd":"alerts"}\n')
        print("alerts_listed=%d" % len(reply["data"]["alerts"]))
        # The reports people read: the daemon builds the whole document on
        # its loop (every sender ever seen, the weeks, the verdict).
        for fmt in ("json", "csv", "html"):
            line = (json.dumps({"cmd": "report", "format": fmt}) + "\n").encode()
            times = []
            for _ in range(5):
                dt, size, _ = round_trip(env.socket, line)
                times.append(dt * 1000)
            print("report_%s_median_ms=%.1f\nreport_%s_max_ms=%.1f\nreport_%s_reply_bytes=%d" %
                  (fmt, statistics.median(times), fmt, max(times), fmt, size))
        print("loaded_rss_kb=%d" % proc_kb(env.daemon.pid, "VmRSS"))
        print("loaded_hwm_kb=%d" % proc_kb(env.daemon.pid, "VmHWM"), flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()
