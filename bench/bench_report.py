#!/usr/bin/env python3
"""bench_report.py: `report` across many tenants while `status` is asked
(issue 22 #4).  The report of every tenant was built in one loop turn: at
MSP scale every other request, timer and source waited behind it.

Starts smtpwatchd against the simulator (foundation scenario) with
--tenants N tenants (all reading the simulator's one tenant), waits for
every tenant's first sign-ins run and for the daemon's CPU to go quiet,
then, --rounds times: one connection asks for `report` (--format) while
another asks for `status` over and over until the report's reply came.
Prints key=value lines:

  alone_ms, alone_cpu_ms  the report's round trip and the daemon's CPU for it
                   (/proc ticks), nothing else asked (median of the rounds)
  report_ms        the report's round trip while status is asked (median)
  report_cpu_ms    the daemon's CPU meanwhile, the status requests' included
  report_bytes     the reply's size
  status_during_n  status round trips while the reports were built (all rounds)
  status_during_max_ms, status_during_p99_ms, status_during_median_ms
  hwm_before_kb, hwm_kb  the daemon's peak RSS (VmHWM) before the first
                   report and after the last: what building and sending
                   the reports added

  bench_report.py [--build DIR]... [--tenants N] [--rounds R] [--format html|json|csv]

Several --build run one after the other (before/after, the same run)."""

import argparse
import os
import statistics
import threading
import time

from ctlclient import cpu_ticks, each_build, harness_for, pct, request, round_trip

TENANT = ("\n[tenant t%04d]\ntenant_id = contoso.onmicrosoft.com\nclient_id = %s\nclient_secret_file = %s\n"
          "login_url = %s\ngraph_url = %s\nexchange_url = %s\nsignins_interval = 1h\nsignins_lookback = 2h\n"
          "initial_backfill = 1d\nconfig_interval = 1h\n")


def hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def one(build, tenants, rounds, fmt):
    harness = harness_for(build)
    env = harness.Env("bench-report", scenario="foundation.json", sinks="")
    with open(env.conf, "a") as f:
        for i in range(1, tenants):
            f.write(TENANT % (i, harness.CLIENT_ID, env.secret, env.sim.url, env.sim.url, env.sim.url))
    out = {"tenants": tenants}
    try:
        env.start_daemon()
        pid = env.daemon.pid
        deadline = time.monotonic() + 1800

        def first_runs_done():
            _, _, st = round_trip(env.socket, request("status"), timeout=120)
            return all(t["sources"]["signins"].get("last_success") for t in st["data"]["tenants"].values())
        while not first_runs_done():
            if time.monotonic() > deadline:
                raise RuntimeError("first runs not done")
            time.sleep(1)
        quiet, last = 0, cpu_ticks(pid)
        while quiet < 4 and time.monotonic() < deadline:
            time.sleep(0.25)
            now = cpu_ticks(pid)
            quiet = quiet + 1 if now - last <= 1 else 0
            last = now
        out["hwm_before_kb"] = hwm_kb(pid)
        alone, alone_cpu = [], []
        for _ in range(rounds):
            c0 = cpu_ticks(pid)
            dt, _, _ = round_trip(env.socket, request("report", format=fmt), timeout=600)
            alone_cpu.append((cpu_ticks(pid) - c0) * 1000.0 / os.sysconf("SC_CLK_TCK"))
            alone.append(dt * 1000)
            time.sleep(1)
        out["alone_ms"] = statistics.median(alone)
        out["alone_cpu_ms"] = statistics.median(alone_cpu)
        times, cpus, during, size = [], [], [], 0
        for _ in range(rounds):
            res = {}

            def ask():
                res["t"], res["size"], _ = round_trip(env.socket, request("report", format=fmt), timeout=600)
            th = threading.Thread(target=ask)
            c0 = cpu_ticks(pid)
            th.start()
            while th.is_alive():
                dt, _, _ = round_trip(env.socket, request("status"), timeout=600)
                if th.is_alive():
                    during.append(dt * 1000)
            th.join()
            cpus.append((cpu_ticks(pid) - c0) * 1000.0 / os.sysconf("SC_CLK_TCK"))
            times.append(res["t"] * 1000)
            size = res["size"]
            time.sleep(1)
        out["report_ms"] = statistics.median(times)
        out["report_cpu_ms"] = statistics.median(cpus)
        out["report_bytes"] = size
        out["status_during_n"] = len(during)
        out["status_during_median_ms"] = statistics.median(during) if during else float("nan")
        out["status_during_p99_ms"] = pct(during, 0.99)
        out["status_during_max_ms"] = max(during) if during else float("nan")
        out["hwm_kb"] = hwm_kb(pid)
    finally:
        env.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append")
    ap.add_argument("--tenants", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--format", default="html", choices=["html", "json", "csv"])
    a = ap.parse_args()
    each_build(a.build, lambda build: one(build, a.tenants, a.rounds, a.format))


if __name__ == "__main__":
    main()
