#!/usr/bin/env python3
"""A small OpenAI-compatible replica for awan's example services (Python standard library only).

It does not run a model: it answers with words of the prompt, one "token" every $TOKEN_MS
milliseconds (default 20), so that streaming, cancellation and load behave as with a real LLM
server. For a real one, run vLLM or SGLang with the same `service:` section.
  GET  /health, GET /v1/models
  POST /v1/chat/completions, /v1/completions    {"model", "messages"|"prompt", "max_tokens",
                                                 "stream": true → SSE chunks, then [DONE]}
Listens on $AWAN_REPLICA_PORT (else the first argument, else 8000). A client that goes away while
its answer streams is noticed at the next token and logged ("cancelled after N tokens").
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = os.environ.get("MODEL_NAME", "awan-echo-llm")
TOKEN_S = float(os.environ.get("TOKEN_MS", "20")) / 1000


def words(body):
    if "messages" in body:
        text = " ".join(str(m.get("content", "")) for m in body["messages"])
    else:
        text = str(body.get("prompt", ""))
    return text.split() or ["hello"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def send_json(self, status, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.send_json(200, {"status": "ok"})
        if self.path == "/v1/models":
            return self.send_json(200, {"object": "list",
                                        "data": [{"id": MODEL, "object": "model"}]})
        self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as e:
            return self.send_json(400, {"error": {"message": f"body is not JSON: {e}"}})
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
        source = words(body)
        n = max(1, min(int(body.get("max_tokens", 16)), 4096))
        tokens = [source[i % len(source)] for i in range(n)]
        kind = "chat.completion" if chat else "text_completion"
        created = int(time.time())
        if not body.get("stream"):
            time.sleep(TOKEN_S * n)
            text = " ".join(tokens)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text},
                       "finish_reason": "length"} if chat else
                      {"index": 0, "text": text, "finish_reason": "length"})
            return self.send_json(200, {"id": "cmpl-awan", "object": kind, "created": created,
                                        "model": MODEL, "choices": [choice],
                                        "usage": {"prompt_tokens": len(source),
                                                  "completion_tokens": n,
                                                  "total_tokens": len(source) + n}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for i, token in enumerate(tokens):
                time.sleep(TOKEN_S)
                delta = ({"index": 0, "delta": {"content": token + " "}, "finish_reason": None}
                         if chat else {"index": 0, "text": token + " ", "finish_reason": None})
                self.chunk("data: " + json.dumps({"id": "cmpl-awan", "object": kind + ".chunk",
                                                  "created": created, "model": MODEL,
                                                  "choices": [delta]}) + "\n\n")
                sent = i + 1
            self.chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            print(f"cancelled after {sent} tokens: the client went away", flush=True)
            self.close_connection = True

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("AWAN_REPLICA_PORT") or (sys.argv[1] if len(sys.argv) > 1 else 8000))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    print(f"{MODEL} replica listening on port {port} ({TOKEN_S * 1000:g} ms per token)", flush=True)
    server.serve_forever()
