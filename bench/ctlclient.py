"""ctlclient.py: what bench_start.py, bench_status.py and bench_report.py
share: one request on a fresh UNIX-socket connection (as smtpwatchctl
makes them), the daemon's CPU ticks from /proc, percentiles, and the
integration tests' harness pointed at a build."""

import json
import os
import socket
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def harness_for(build):
    """tests/integration/harness.py, its daemon, smtpwatchctl and simulator
    those of the build directory build."""
    build = os.path.abspath(build)
    os.environ["SW_SCENARIOS"] = os.path.join(TOP, "sim", "scenarios")
    os.environ["SMTPWATCHD"] = os.path.join(build, "daemon", "smtpwatchd")
    os.environ["SMTPWATCHCTL"] = os.path.join(build, "daemon", "smtpwatchctl")
    os.environ["SMTPWATCH_SIM"] = os.path.join(build, "sim", "smtpwatch-sim")
    sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
    import harness
    harness.SMTPWATCHD = os.environ["SMTPWATCHD"]
    harness.SMTPWATCHCTL = os.environ["SMTPWATCHCTL"]
    return harness


def round_trip(path, line, timeout=None):
    """Send one request line, read the reply line: (seconds, reply bytes,
    the parsed reply).  An error reply raises RuntimeError."""
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    dt = time.perf_counter() - t0
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise RuntimeError("daemon answered an error: %r" % reply)
    return dt, len(buf), reply


def request(cmd, **args):
    """The request line for cmd with args."""
    return (json.dumps(dict({"cmd": cmd}, **args)) + "\n").encode()


def cpu_ticks(pid):
    """User + system CPU of pid so far, in clock ticks (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def pct(times, p):
    """The p-th quantile (0..1) of times, nearest rank; nan when empty."""
    times = sorted(times)
    return times[min(len(times) - 1, int(len(times) * p))] if times else float("nan")


def loadavg():
    """The 1, 5 and 15 minute load averages, as "a,b,c"."""
    with open("/proc/loadavg") as f:
        return ",".join(f.read().split()[:3])


def each_build(builds, run):
    """run(build) for each build directory (build-bench when none), one
    after the other, each printed as key=value lines with the machine's
    load before and after it."""
    for build in builds or [os.path.join(TOP, "build-bench")]:
        load0 = loadavg()
        out = run(build)
        load1 = loadavg()
        print("build=%s\nload_before=%s\nload_after=%s" % (build, load0, load1))
        for k, v in out.items():
            print("%s=%s" % (k, ("%.1f" % v) if isinstance(v, float) else v))
        print(flush=True)
