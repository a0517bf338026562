#!/usr/bin/env python3
"""An HTTP echo replica for awan's example service (Python standard library only).

Listens on $AWAN_REPLICA_PORT (awan gives each replica its own port: replicas of the local and
emulated providers share this machine), else on the first argument, else 8080.
  GET /health         200 "ok" (the readiness probe)
  GET /slow?ms=N      answers after N milliseconds
  anything else       {"replica", "tag", "method", "path", "body"} as JSON (one line)
$ECHO_TAG, when set, is the "tag" of every answer (e.g. the version of the service).
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REPLICA = os.environ.get("AWAN_JOB_ID", str(os.getpid()))
TAG = os.environ.get("ECHO_TAG", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the gateway uses it
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def answer(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        url = urlparse(self.path)
        if url.path == "/health":
            return self.answer(200, "ok\n", "text/plain")
        if url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["100"])[0]) / 1000)
        self.answer(200, json.dumps({"replica": REPLICA, "tag": TAG, "method": self.command,
                                     "path": self.path, "body": body}) + "\n")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, fmt, *args):  # one line per request would flood the job log
        pass


if __name__ == "__main__":
    port = int(os.environ.get("AWAN_REPLICA_PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8080))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    print(f"echo replica {REPLICA} listening on port {port}", flush=True)
    server.serve_forever()
