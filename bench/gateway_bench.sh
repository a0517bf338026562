#!/usr/bin/env bash
# awan's gateway against HAProxy and nginx (Debian packages) as reverse proxies, in one script, on
# this machine, in front of the same backends (an nginx that answers 200 "ok" itself), each proxy
# with one worker thread and kept-alive connections on both sides, driven by wrk over keep-alive.
#   1. saturation: wrk -t1 -c64 for DURATION s against each proxy (and the backend directly), the
#      proxies in turn (each round starting with the next one), ROUNDS times; the median of each
#      proxy's runs is reported;
#   2. latency at 50% of each proxy's saturation: wrk paced (a Lua delay per request) with 16
#      connections; the added p50/p99 is the proxy's minus the direct connection's at that rate;
#   3. side by side: awan and HAProxy on the same core at once, a wrk each, ROUNDS times — the
#      ratio of what each served, immune to the machine's phases.
# On a machine with 2+ CPUs the proxy runs on CPU 1 and wrk and the backend on CPU 0 (taskset), so
# each proxy has one core to itself. Needs: wrk, haproxy, nginx (installed by scripts/install-deps
# --bench). Usage: bench/gateway_bench.sh [DURATION_S [ROUNDS]]   (after scripts/build release)
set -euo pipefail
cd "$(dirname "$0")/.."
awan=$PWD/build/release/bin/awan
duration="${1:-5}"
rounds="${2:-3}"
for tool in wrk haproxy nginx taskset; do
  command -v "$tool" >/dev/null || { echo "gateway_bench: $tool not found (scripts/install-deps --bench)"; exit 1; }
done
work=$(mktemp -d /tmp/awan-gateway-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/backend.pid" ] && kill "$(cat "$work/backend.pid")" 2>/dev/null || true
  [ -f "$work/nginx-proxy.pid" ] && kill "$(cat "$work/nginx-proxy.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cpus=$(nproc)
proxy_cpu=""; load_cpu=""
if [ "$cpus" -ge 2 ]; then proxy_cpu="taskset -c 1"; load_cpu="taskset -c 0"; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
b1=$(free_port); b2=$(free_port)

# The backends: one nginx (one worker) answering 200 "ok" on two ports.
mkdir -p "$work/tmp"
cat > "$work/backend.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/backend.pid;
error_log $work/backend-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$b1; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$b2; location / { return 200 "ok\n"; } }
}
CONF
$load_cpu nginx -c "$work/backend.conf" -p "$work"

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "gateway_bench: nothing listens on port $1"; exit 1
}
wait_port "$b1"

# wrk's figures: requests/s, latency p50 and p99 (in microseconds).
run_wrk() {  # URL CONNECTIONS [LUA]
  local out
  if [ -n "${3:-}" ]; then
    out=$($load_cpu wrk -t1 -c"$2" -d"${duration}s" --latency -s "$3" "$1")
  else
    out=$($load_cpu wrk -t1 -c"$2" -d"${duration}s" --latency "$1")
  fi
  echo "$out" > "$work/last-wrk.txt"
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $(to_us "$p50") $(to_us "$p99") ${errors:-none}"
}
to_us() {  # "123.45us" | "1.23ms" | "1.2s" → microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000; else m = 1;
    printf "%.0f", n * m }'
}
paced_lua() {  # RATE (requests/s over 16 connections) → a wrk script with a per-request delay
  local delay_ms
  delay_ms=$(awk -v r="$1" 'BEGIN { printf "%.3f", 16 * 1000 / r }')
  echo "function delay() return $delay_ms end" > "$work/paced.lua"
  echo "$work/paced.lua"
}

start_proxy() {  # NAME; sets proxy_port once it listens
  local name=$1 port
  port=$(free_port)
  case "$name" in
    awan)
      $proxy_cpu "$awan" gateway --admin-port -1 --route "bench=$port=127.0.0.1:$b1,127.0.0.1:$b2" \
        > /dev/null 2> "$work/awan.log" &
      pids+=($!)
      ;;
    haproxy)
      cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$port
  default_backend b
backend b
  balance leastconn
  server s1 127.0.0.1:$b1
  server s2 127.0.0.1:$b2
CONF
      $proxy_cpu haproxy -f "$work/haproxy.cfg" -q > /dev/null 2>&1 &
      pids+=($!)
      ;;
    nginx)
      cat > "$work/nginx-proxy.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx-proxy.pid;
error_log $work/nginx-proxy-error.log;
events { worker_connections 4000; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  keepalive_requests 1000000;
  upstream b { least_conn; server 127.0.0.1:$b1; server 127.0.0.1:$b2; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$port;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
      $proxy_cpu nginx -c "$work/nginx-proxy.conf" -p "$work"
      ;;
  esac
  wait_port "$port"
  sleep 0.7  # awan: the first readiness probes (every 500 ms) mark the replicas ready
  proxy_port=$port
}
stop_proxy() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
  if [ -f "$work/nginx-proxy.pid" ]; then kill "$(cat "$work/nginx-proxy.pid")" 2>/dev/null || true; rm -f "$work/nginx-proxy.pid"; fi
  sleep 0.3
}

echo "gateway_bench: $cpus CPUs; proxies on ${proxy_cpu:-any CPU}, wrk and backend on ${load_cpu:-any CPU}; ${duration}s per run, $rounds rounds"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A sat p50 p99 base50 base99 errs runs
direct_runs=""
# Saturation: the proxies in turn, ROUNDS times (this machine's noise is larger than the
# differences measured; the median of interleaved runs is what the table shows).
for round in $(seq "$rounds"); do
  read -r direct _ _ direct_err <<< "$(run_wrk "http://127.0.0.1:$b1/" 64)"
  direct_runs+=" $direct"
  order=(awan haproxy nginx)  # each round starts with the next proxy: none always goes first
  shift_by=$(( (round - 1) % 3 ))
  order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
  for proxy in "${order[@]}"; do
    start_proxy "$proxy"
    read -r rps _ _ err <<< "$(run_wrk "http://127.0.0.1:$proxy_port/" 64)"
    runs[$proxy]+=" $rps"
    [ "$err" = none ] || errs[$proxy]="$err"
    : "${errs[$proxy]:=none}"
    stop_proxy
  done
  echo "round $round: direct $direct awan ${runs[awan]##* } haproxy ${runs[haproxy]##* } nginx ${runs[nginx]##* }" | tr -s ' '
done
direct_rps=$(echo "$direct_runs" | median)
for proxy in awan haproxy nginx; do sat[$proxy]=$(echo "${runs[$proxy]}" | median); done
# Latency at 50% of each proxy's (median) saturation rate, and the direct connection's at that rate.
for proxy in awan haproxy nginx; do
  start_proxy "$proxy"
  rate=$(awk -v s="${sat[$proxy]}" 'BEGIN { printf "%.0f", s / 2 }')
  lua=$(paced_lua "$rate")
  read -r _ p50[$proxy] p99[$proxy] _ <<< "$(run_wrk "http://127.0.0.1:$proxy_port/" 16 "$lua")"
  stop_proxy
  read -r _ base50[$proxy] base99[$proxy] _ <<< "$(run_wrk "http://127.0.0.1:$b1/" 16 "$lua")"
done

# Side by side: awan and HAProxy on CPU 1 at once, each driven by its own wrk (64 connections) on
# CPU 0 for the same seconds. They share the core, the backends and whatever phase the machine is
# in, so the ratio of what each served is the ratio of their efficiency, noise or not.
side_runs=""
for round in $(seq "$rounds"); do
  start_proxy awan; pa=$proxy_port
  start_proxy haproxy; ph=$proxy_port
  $load_cpu wrk -t1 -c64 -d"${duration}s" "http://127.0.0.1:$pa/" > "$work/side-awan.txt" &
  wa=$!
  $load_cpu wrk -t1 -c64 -d"${duration}s" "http://127.0.0.1:$ph/" > "$work/side-haproxy.txt" &
  wh=$!
  wait "$wa" "$wh"
  ra=$(awk '/Requests\/sec/ {print $2}' "$work/side-awan.txt")
  rh=$(awk '/Requests\/sec/ {print $2}' "$work/side-haproxy.txt")
  side_runs+=" $(awk -v a="$ra" -v h="$rh" 'BEGIN { printf "%.3f", a / h }')"
  echo "side by side, round $round: awan $ra, haproxy $rh requests/s"
  stop_proxy
done
side=$(echo "$side_runs" | median)

printf '\n%-10s %12s %10s %14s %14s %10s\n' "proxy" "requests/s" "vs haproxy" "added p50 µs" "added p99 µs" "errors"
printf '%-10s %12.0f %10s %14s %14s %10s\n' "direct" "$direct_rps" "-" "-" "-" "${direct_err:-none}"
for proxy in awan haproxy nginx; do
  printf '%-10s %12.0f %10s %14d %14d %10s\n' "$proxy" "${sat[$proxy]}" \
    "$(awk -v a="${sat[$proxy]}" -v h="${sat[haproxy]}" 'BEGIN { printf "%.2fx", a / h }')" \
    "$(( ${p50[$proxy]} - ${base50[$proxy]} ))" "$(( ${p99[$proxy]} - ${base99[$proxy]} ))" "${errs[$proxy]}"
done
echo "side by side (both on one core at once, a wrk each): awan/haproxy requests ratio, median of$side_runs = ${side}x"
echo "(added latency: the proxy's p50/p99 at 50% of its saturation rate, minus the direct connection's at that rate; targets: awan ≥ haproxy requests/s, added p99 ≤ 1000 µs)"
