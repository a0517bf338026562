#!/usr/bin/env python3
"""Preemption notice -> replacement RUNNING, on the emulated providers (issue 13).

Starts a server of its own (a temporary AWAN_HOME) whose two emulated clouds take a fixed
provisioning delay, launches a managed job, preempts its node N times (`awan sim preempt --job`) and
reads the job's events: for each recovery, the time from the preemption (RUNNING -> PREEMPTED) to
the replacement's start (PROVISIONING -> RUNNING), and the part of it that was the provider's
provisioning delay (PENDING -> PROVISIONING .. PROVISIONING -> RUNNING). The goal: recovery <= the
provisioning delay + 1 s.

  python3 bench/recovery_bench.py [--awan build/release/bin/awan] [--runs 10] [--delay-ms 500]
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def when(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--awan", default="build/release/bin/awan")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--delay-ms", type=int, default=500)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="awan-recovery-bench-")
    env = dict(os.environ, AWAN_HOME=home)
    d = args.delay_ms
    with open(os.path.join(home, "config.yaml"), "w") as f:
        f.write(f"""providers:
  - {{name: local, kind: local}}
  - {{name: coreweave, kind: sim, emulates: coreweave, default_capacity: 4, delay_ms: [{d}, {d}]}}
  - {{name: aws, kind: sim, emulates: aws, default_capacity: 4, delay_ms: [{d}, {d}]}}
""")
    task = os.path.join(home, "task.yaml")
    with open(task, "w") as f:
        f.write("""name: recovery-bench
resources:
  accelerators: H100:8
  job_recovery: EAGER_NEXT_REGION
  any_of: [{infra: coreweave/US-EAST-04}, {infra: aws/us-east-1}]
run: sleep 3600
""")

    def awan(*a):
        return subprocess.run([args.awan, *a], env=env, capture_output=True, text=True, check=True)

    def job(jid):
        return json.loads(awan("status", str(jid), "--json").stdout)

    jid = int(awan("launch", "-d", task).stdout.strip().splitlines()[-1])
    try:
        for n in range(1, args.runs + 1):
            while job(jid)["state"] != "RUNNING":
                time.sleep(0.02)
            awan("sim", "preempt", "--job", str(jid))
            while not (job(jid)["state"] == "RUNNING" and job(jid)["recoveries"] == n):
                time.sleep(0.02)
        events = json.loads(awan("events", str(jid), "--json").stdout)
    finally:
        subprocess.run([args.awan, "cancel", str(jid)], env=env, capture_output=True)
        subprocess.run([args.awan, "server", "stop"], env=env, capture_output=True)
    total, provisioning, overhead = [], [], []
    notice = placed = None
    for e in events:
        m = e["message"]
        if m.startswith("RUNNING → PREEMPTED"):
            notice = when(e["time"])
        elif m.startswith("PENDING → PROVISIONING") and notice is not None:
            placed = when(e["time"])
        elif m.startswith("PROVISIONING → RUNNING") and notice is not None and placed:
            t = when(e["time"])
            total.append(t - notice)
            provisioning.append(t - placed)
            overhead.append(placed - notice)
            notice = placed = None
    if not total:
        sys.exit("no recovery found in the events")

    def row(name, xs):
        xs = sorted(xs)
        p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
        print(f"{name:<34} {statistics.mean(xs) * 1000:8.0f} {p(0.5) * 1000:8.0f} "
              f"{p(0.9) * 1000:8.0f} {max(xs) * 1000:8.0f}")

    print(f"{len(total)} recoveries, provisioning delay {d} ms (emulated), awan {args.awan}")
    print(f"{'ms':<34} {'mean':>8} {'p50':>8} {'p90':>8} {'max':>8}")
    row("notice -> replacement RUNNING", total)
    row("  of which provisioning", provisioning)
    row("  of which awan (notice -> placed)", overhead)
    worst = max(t - p for t, p in zip(total, provisioning))
    print(f"goal: recovery <= provisioning delay + 1000 ms; worst excess {worst * 1000:.0f} ms: "
          f"{'met' if worst <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
