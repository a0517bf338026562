#!/usr/bin/env python3
"""awan's LLM routing and gateway overhead against peers, in one script (issue 12).

Part 1, routing: the same emulated replicas (`awan llm-replica`, one process each, fresh for every
run so no router inherits a warm cache), the same slice of the Mooncake conversation trace replayed
in real time by `awan serve replay --url` (streamed /v1/completions; a prompt's text names its
blocks, so text-matching routers see the same prefixes awan reads from hash_ids), in front of:
awan's gateway (round_robin, prefix_affinity, llm_score), sglang-router and vllm-router
(round_robin and their cache_aware policy, defaults as shipped). Time is compressed: the replicas'
timing model and the SLOs are divided by --compress and the trace sped up by as much, so the
emulated dynamics are those of the trace at 1x; TTFT is reported back in trace time.

Part 2, gateway overhead: one instant upstream (an emulated replica with zero timing), sequential
non-streamed chat completions over a kept-alive connection, direct and through: awan's gateway
with the upstream as its replica, awan's gateway falling back to it as an `openai` managed
endpoint (no replica ready), and LiteLLM's proxy. Overhead: a percentile through the proxy minus
the same percentile direct.

Peers come from PyPI at pinned versions into a venv under build/ (bench/llm-peers makes it).
Everything listens on 127.0.0.1. Run: bench/llm-peers [--limit N] [--json FILE].
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, seconds=60, ok=(200,)):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status in ok:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Procs:
    """Processes started by this script, each in its own group, stopped at the end."""

    def __init__(self, logs):
        self.logs = logs
        self.procs = []

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.logs, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in self.procs:
            self.stop(p)
        self.procs = []


def start_replicas(procs, args, timing, tag):
    ports = [free_port() for _ in range(args.replicas)]
    started = []
    for i, port in enumerate(ports):
        started.append(procs.start(f"{tag}-replica-{i}", [
            args.awan, "llm-replica", "--port", str(port), "--cache-tokens", str(args.cache_tokens),
            "--prefill-ms-per-token", str(timing[0]), "--decode-ms-per-step", str(timing[1]),
            "--decode-ms-per-request", str(timing[2])]))
    for port in ports:
        if not wait_http(port, "/health"):
            sys.exit(f"llm_peers: the emulated replica on port {port} did not start")
    return ports, started


def start_router(procs, args, kind, policy, replica_ports, tag):
    port = free_port()
    urls = [f"http://127.0.0.1:{p}" for p in replica_ports]
    if kind == "awan":
        route = "llm={}={}".format(port, ",".join(f"127.0.0.1:{p}" for p in replica_ports))
        p = procs.start(tag, [args.awan, "gateway", "--route", route, "--policy", policy,
                              "--readiness-path", "/health"])
    elif kind == "sglang-router":
        p = procs.start(tag, [os.path.join(args.venv, "bin", "sglang-router"), "launch",
                              "--host", "127.0.0.1", "--port", str(port), "--prometheus-port",
                              str(free_port()), "--policy", policy, "--log-level", "warn",
                              "--worker-urls", *urls])
    else:
        p = procs.start(tag, [os.path.join(args.venv, "bin", "vllm-router"), "--host",
                              "127.0.0.1", "--port", str(port), "--prometheus-port",
                              str(free_port()), "--policy", policy, "--log-level", "warning",
                              "--worker-urls", *urls])
    # Ready when a request through it is answered (its replicas seen healthy).
    deadline = time.time() + 90
    body = json.dumps({"model": "awan-emulated", "prompt": "warm up", "max_tokens": 1})
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            if c.getresponse().status == 200:
                return port, p
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.5)
    sys.exit(f"llm_peers: {tag} did not start answering (see {procs.logs}/{tag}.log)")


def routing(args, procs):
    c = args.compress
    timing = (0.12 / c, 12 / c, 0.2 / c)  # the replica's defaults (docs/llm.md), compressed
    configs = [("awan", "round_robin"), ("awan", "prefix_affinity"), ("awan", "llm_score"),
               ("sglang-router", "round_robin"), ("sglang-router", "cache_aware"),
               ("vllm-router", "round_robin"), ("vllm-router", "cache_aware")]
    rows = []
    for kind, policy in configs:
        label = f"{kind}/{policy}"
        tag = label.replace("/", "-")
        replica_ports, replicas = start_replicas(procs, args, timing, tag)
        port, router = start_router(procs, args, kind, policy, replica_ports, tag)
        print(f"[llm_peers] {label}: {args.limit} requests ...", file=sys.stderr, flush=True)
        metrics = ",".join(f"http://127.0.0.1:{p}/metrics" for p in replica_ports)
        out = subprocess.run(
            [args.awan, "serve", "replay", "--url", f"http://127.0.0.1:{port}", "--trace",
             args.trace, "--format", "mooncake", "--limit", str(args.limit), "--speed", str(c),
             "--label", label, "--model", "awan-emulated", "--replica-metrics", metrics, "--slo-ttft", str(2 / c),
             "--slo-tpot", str(0.1 / c), "--json"],
            capture_output=True, text=True)
        procs.stop(router)
        for r in replicas:
            procs.stop(r)
        if out.returncode != 0:
            sys.exit(f"llm_peers: replay through {label} failed:\n{out.stderr}")
        r = json.loads(out.stdout)["policies"][0]
        for k in ("p50", "p90", "p99"):
            r["ttft_s"][k] = round(r["ttft_s"][k] * c, 3)  # back to trace time
        rows.append(r)
        print(f"[llm_peers] {label}: TTFT p90 {r['ttft_s']['p90']:.2f} s, prefix hits "
              f"{r['prefix_hit_ratio'] * 100:.1f}%, busiest/mean {r['max_over_mean_load']:.2f}",
              file=sys.stderr, flush=True)
    return rows


def latencies(port, n, path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    for i in range(n + 50):  # 50 to warm up
        t = time.perf_counter()
        c.request("POST", path, body, headers)
        res = c.getresponse()
        res.read()
        if res.status != 200:
            sys.exit(f"llm_peers: port {port} answered {res.status}")
        if i >= 50:
            out.append(time.perf_counter() - t)
    out.sort()
    return out


def pct(v, p):
    return v[min(len(v) - 1, int(p * len(v)))]


def overhead(args, procs, logs):
    up = free_port()
    procs.start("overhead-upstream", [args.awan, "llm-replica", "--port", str(up),
                                      "--prefill-ms-per-token", "0", "--decode-ms-per-step", "0",
                                      "--decode-ms-per-request", "0"])
    if not wait_http(up, "/health"):
        sys.exit("llm_peers: the upstream did not start")
    key = "sk-awan-bench-upstream"
    env = dict(os.environ, AWAN_BENCH_UPSTREAM_KEY=key)
    # awan: the upstream as the route's replica.
    replica_route = free_port()
    procs.start("overhead-awan-replica", [args.awan, "gateway", "--route",
                                          f"llm={replica_route}=127.0.0.1:{up}", "--readiness-path",
                                          "/health"])
    # awan: no replica ready (nothing listens on `dead`), the upstream as an openai fallback.
    fallbacks = os.path.join(logs, "fallbacks.yaml")
    with open(fallbacks, "w") as f:
        f.write(f"fallbacks:\n  - kind: openai\n    base_url: http://127.0.0.1:{up}/v1\n"
                f"    model: awan-emulated\n    api_key_env: AWAN_BENCH_UPSTREAM_KEY\n")
    fallback_route, dead = free_port(), free_port()
    procs.start("overhead-awan-fallback", [args.awan, "gateway", "--route",
                                           f"llm={fallback_route}=127.0.0.1:{dead}",
                                           "--fallbacks", fallbacks], env=env)
    # LiteLLM's proxy, the upstream as an openai-compatible model; no network (local cost map).
    litellm_port = free_port()
    config = os.path.join(logs, "litellm.yaml")
    with open(config, "w") as f:
        f.write(f"model_list:\n  - model_name: awan-emulated\n    litellm_params:\n"
                f"      model: openai/awan-emulated\n      api_base: http://127.0.0.1:{up}/v1\n"
                f"      api_key: {key}\n")
    master = "sk-awan-bench-litellm-master-0123456789"
    procs.start("overhead-litellm", [os.path.join(args.venv, "bin", "litellm"), "--config",
                                     config, "--host", "127.0.0.1", "--port", str(litellm_port),
                                     "--num_workers", "1"],
                env=dict(os.environ, LITELLM_MASTER_KEY=master, LITELLM_LOCAL_MODEL_COST_MAP="True",
                         LITELLM_TELEMETRY="False"))
    for port, path in ((replica_route, "/health"), (litellm_port, "/health/liveliness")):
        if not wait_http(port, path, 120, ok=(200, 404)):
            sys.exit(f"llm_peers: port {port} did not come up (see {logs})")
    time.sleep(1.5)  # the gateways' readiness probes
    body = json.dumps({"model": "awan-emulated", "max_tokens": 1,
                       "messages": [{"role": "user", "content": "one two three"}]})
    base = {"Content-Type": "application/json"}
    rows = {}
    for name, port, headers in (
            ("direct", up, base),
            ("awan gateway (replica)", replica_route, base),
            ("awan gateway (openai fallback)", fallback_route, base),
            ("LiteLLM proxy " + args.litellm_version, litellm_port,
             dict(base, Authorization="Bearer " + master))):
        print(f"[llm_peers] overhead: {name} ...", file=sys.stderr, flush=True)
        rows[name] = latencies(port, args.overhead_requests, "/v1/chat/completions", body, headers)
    direct = rows["direct"]
    out = []
    for name, v in rows.items():
        out.append({"path": name, "p50_ms": round(pct(v, 0.5) * 1000, 3),
                    "p99_ms": round(pct(v, 0.99) * 1000, 3),
                    "overhead_p50_ms": round((pct(v, 0.5) - pct(direct, 0.5)) * 1000, 3),
                    "overhead_p99_ms": round((pct(v, 0.99) - pct(direct, 0.99)) * 1000, 3)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--awan", default=os.path.join(ROOT, "build/release/bin/awan"))
    ap.add_argument("--venv", default=os.path.join(ROOT, "build/peers-venv"))
    ap.add_argument("--trace", default=os.path.join(
        ROOT, "../shared/data/llm_inference/mooncake/conversation_trace.train.jsonl"))
    ap.add_argument("--limit", type=int, default=1000, help="requests of the trace replayed")
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--cache-tokens", type=int, default=1000000)
    ap.add_argument("--compress", type=float, default=4, help="time compression (see above)")
    ap.add_argument("--overhead-requests", type=int, default=2000)
    ap.add_argument("--skip-routing", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--litellm-version", default="")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    if not args.skip_routing and not os.path.exists(args.trace):
        print(f"llm_peers: routing skipped: {args.trace} is not there (the shared data folder)",
              file=sys.stderr)
        args.skip_routing = True
    logs = tempfile.mkdtemp(prefix="awan-llm-peers-")
    procs = Procs(logs)
    result = {"limit": args.limit, "replicas": args.replicas, "compress": args.compress}
    try:
        if not args.skip_routing:
            result["routing"] = routing(args, procs)
        if not args.skip_overhead:
            result["overhead"] = overhead(args, procs, logs)
    finally:
        procs.stop_all()
    if "routing" in result:
        print(f"Routing: {args.limit} requests of the Mooncake conversation trace, {args.replicas} "
              f"emulated replicas, {args.cache_tokens} cache tokens each (TTFT in trace time)")
        print(f"{'ROUTER/POLICY':<30} {'TTFT_P50':>9} {'TTFT_P90':>9} {'TTFT_P99':>9} "
              f"{'PREFIX':>7} {'MAX/MEAN':>8} {'GOODPUT':>8} {'REQS':>5}")
        for r in result["routing"]:
            t = r["ttft_s"]
            print(f"{r['policy']:<30} {t['p50']:>8.2f}s {t['p90']:>8.2f}s {t['p99']:>8.2f}s "
                  f"{r['prefix_hit_ratio'] * 100:>6.1f}% {r['max_over_mean_load']:>7.2f}x "
                  f"{r['goodput'] * 100:>7.1f}% {r['requests']:>5}")
        by = {r["policy"]: r for r in result["routing"]}
        for mine in ("awan/prefix_affinity", "awan/llm_score"):
            for peer in ("sglang-router/cache_aware", "vllm-router/cache_aware"):
                a, b = by[mine], by[peer]
                print(f"{mine} vs {peer}: prefix hits {a['prefix_hit_ratio'] / max(b['prefix_hit_ratio'], 1e-9):.2f}x, "
                      f"TTFT p90 {b['ttft_s']['p90'] / max(a['ttft_s']['p90'], 1e-9):.2f}x lower")
    if "overhead" in result:
        print(f"\nGateway overhead: {args.overhead_requests} sequential chat completions, kept-alive "
              "connection, instant upstream (overhead: the percentile minus direct's)")
        print(f"{'PATH':<36} {'P50':>8} {'P99':>8} {'+P50':>8} {'+P99':>8}")
        for r in result["overhead"]:
            print(f"{r['path']:<36} {r['p50_ms']:>6.2f}ms {r['p99_ms']:>6.2f}ms "
                  f"{r['overhead_p50_ms']:>6.2f}ms {r['overhead_p99_ms']:>6.2f}ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
