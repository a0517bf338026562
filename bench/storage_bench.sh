#!/usr/bin/env bash
# Checkpoint upload/download through awan's s3 store vs a plain `rclone copy` of the same data, against
# moto's S3-compatible server on loopback (build/test-venv, from scripts/install-test-peers).
#   bench/storage_bench.sh [MiB] [files]      (figures: docs/performance.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-peers
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
build/test-venv/bin/moto_server -H 127.0.0.1 -p "$port" > /tmp/awan-storage-bench-moto.log 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
build/release/bench/storage_bench "http://127.0.0.1:$port" "${1:-512}" "${2:-8}"
