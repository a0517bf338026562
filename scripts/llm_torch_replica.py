#!/usr/bin/env python3
"""A real-model LLM replica for scripts/gpu-check (issue 12): a small, randomly initialised
Llama-style transformer (transformers' LlamaForCausalLM, no weights to download) behind the same
OpenAI-compatible API as `awan llm-replica` — /v1/completions and /v1/chat/completions (SSE with
[DONE] and stream_options.include_usage), /v1/models, /health, and /metrics with vLLM's names —
doing real prefill and greedy decode on the GPU (or the CPU), and reusing the KV cache of a
prompt's leading 16-token blocks when an earlier prompt shared them (vLLM-style prefix caching:
the longest block-aligned common prefix among the last --cache-entries prompts is copied and
cropped, only the rest is prefilled). Requests run one at a time in arrival order (a queue), so
load shows as waiting requests and time to first token, as on a busy replica.

Prompts: `prompt` text (a token per word, ids hashed from the words), `messages`, or the Mooncake
trace's `input_length` + `hash_ids` (each id stands for 512 token ids derived from it), as
`awan llm-replica` reads them. The text it returns is token ids ("t123"), not words: a test double
with real compute, not a language model.

Usage: llm_torch_replica.py --port N [--device cuda|cpu] [--layers 8 --hidden 512] ...
Needs PyTorch and transformers (the GPU machine has both); standard library otherwise.
"""

import argparse
import copy
import warnings
import hashlib
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = 16  # tokens per KV block (vLLM's default)
TRACE_BLOCK = 512  # tokens per Mooncake hash id


def stable_id(text, vocab):
    return 1 + int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % (
        vocab - 1)


def prompt_tokens(body, vocab):
    """The request's prompt as token ids, or raises ValueError naming the field."""
    if "hash_ids" in body:
        ids, length = body["hash_ids"], body.get("input_length")
        if not isinstance(ids, list) or not isinstance(length, int) or length < 1:
            raise ValueError("'hash_ids' needs a list and 'input_length' a positive integer")
        out = []
        for h in ids:
            out.extend(stable_id(f"{h}/{j}", vocab) for j in range(TRACE_BLOCK))
            if len(out) >= length:
                break
        out.extend(stable_id(f"tail/{len(ids)}/{j}", vocab) for j in range(length - len(out)))
        return out[:length]
    if "messages" in body:
        text = "".join(f"{m.get('role', '')}: {m.get('content', '')}\n" for m in body["messages"])
    elif "prompt" in body:
        p = body["prompt"]
        if isinstance(p, list) and p and all(isinstance(t, int) for t in p):
            return [1 + t % (vocab - 1) for t in p]
        text = " ".join(p) if isinstance(p, list) else str(p)
    else:
        raise ValueError("'prompt' or 'messages' is required")
    words = text.split()
    return [stable_id(w, vocab) for w in words] or [1]


def crop(cache, keep):
    """Keeps the first `keep` tokens of a transformers cache (a negative crop removes from the
    end, in old and new versions alike)."""
    extra = cache.get_seq_length() - keep
    if extra > 0:
        cache.crop(-extra)


class Model:
    def __init__(self, args):
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
        self.torch = torch
        torch.manual_seed(0)
        self.device = args.device
        config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                             intermediate_size=args.hidden * 4 if args.hidden < 1024 else args.hidden * 3,
                             num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
                             num_key_value_heads=max(1, args.hidden // 256),
                             max_position_embeddings=args.max_tokens)
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model = LlamaForCausalLM(config).to(device=self.device, dtype=dtype).eval()
        self.vocab = args.vocab
        self.entries = []  # [(tokens, cache)], most recent last
        self.capacity = args.cache_entries
        self.queries = self.hits = self.prompt_total = self.generation_total = 0

    def cached(self, tokens):
        """The longest block-aligned prefix of `tokens` an entry holds (at most all but the last
        token), and a copy of that entry's cache cropped to it."""
        best, best_cache = 0, None
        for old, cache in self.entries:
            n = 0
            limit = min(len(old), len(tokens) - 1)
            while n + BLOCK <= limit and old[n:n + BLOCK] == tokens[n:n + BLOCK]:
                n += BLOCK
            if n > best:
                best, best_cache = n, cache
        if best_cache is None:
            return 0, None
        cache = copy.deepcopy(best_cache)
        crop(cache, best)
        return best, cache

    def run(self, tokens, max_new, emit):
        """Prefill (the uncached part) and greedy decode; emit(token_id) per token. Returns the
        cached token count."""
        torch = self.torch
        with torch.no_grad():
            n, cache = self.cached(tokens)
            self.queries += len(tokens)
            self.hits += n
            self.prompt_total += len(tokens)
            ids = torch.tensor([tokens[n:]], device=self.device)
            out = self.model(input_ids=ids, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            # Keep the prompt's full blocks for later prompts (before decoding extends it).
            keep = (len(tokens) // BLOCK) * BLOCK
            if keep > 0:
                kept = copy.deepcopy(cache)
                crop(kept, keep)
                self.entries.append((tokens[:keep], kept))
                if len(self.entries) > self.capacity:
                    self.entries.pop(0)
            for i in range(max_new):
                nxt = int(out.logits[0, -1].argmax())
                if self.device.startswith("cuda"):
                    torch.cuda.synchronize()
                emit(nxt)
                self.generation_total += 1
                if i + 1 == max_new:
                    break
                out = self.model(input_ids=torch.tensor([[nxt]], device=self.device),
                                 past_key_values=cache, use_cache=True)
                cache = out.past_key_values
            return n


class Replica:
    def __init__(self, args):
        self.args = args
        self.model = Model(args)
        self.jobs = queue.Queue()
        self.running = 0
        self.done = 0
        threading.Thread(target=self.worker, daemon=True).start()

    def worker(self):
        while True:
            tokens, max_new, sink = self.jobs.get()
            self.running = 1
            try:
                cached = self.model.run(tokens, max_new, lambda t: sink.put(("token", t)))
                sink.put(("end", cached))
            except Exception as e:  # reported to the client as a 500
                sink.put(("error", str(e)))
            self.running = 0
            self.done += 1

    def metrics(self):
        m, name = self.model, self.args.model
        label = f'{{model_name="{name}"}}'
        rows = [("vllm:num_requests_running", "gauge", self.running),
                ("vllm:num_requests_waiting", "gauge", self.jobs.qsize()),
                ("vllm:kv_cache_usage_perc", "gauge", len(m.entries) / m.capacity),
                ("vllm:prefix_cache_queries_total", "counter", m.queries),
                ("vllm:prefix_cache_hits_total", "counter", m.hits),
                ("vllm:prompt_tokens_total", "counter", m.prompt_total),
                ("vllm:generation_tokens_total", "counter", m.generation_total),
                ("vllm:request_success_total", "counter", self.done)]
        return "".join(f"# TYPE {n} {t}\n{n}{label} {v}\n" for n, t, v in rows)


def handler(replica):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body, ctype="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status, message, param=None):
            kind = "invalid_request_error" if status < 500 else "server_error"
            self.send(status, json.dumps({"error": {"message": message, "type": kind,
                                                    "param": param}}))

        def do_GET(self):
            if self.path == "/health":
                self.send(200, "ok", "text/plain")
            elif self.path == "/metrics":
                self.send(200, replica.metrics(), "text/plain; version=0.0.4")
            elif self.path == "/v1/models":
                self.send(200, json.dumps({"object": "list", "data": [
                    {"id": replica.args.model, "object": "model", "owned_by": "awan"}]}))
            else:
                self.error(404, f"no route {self.path}")

        def do_POST(self):
            chat = self.path == "/v1/chat/completions"
            if not chat and self.path != "/v1/completions":
                return self.error(404, f"no route {self.path}")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                tokens = prompt_tokens(body, replica.model.vocab)
            except (ValueError, json.JSONDecodeError) as e:
                return self.error(400, str(e))
            max_new = body.get("max_completion_tokens", body.get("max_tokens", 16))
            if not isinstance(max_new, int) or max_new < 1 or max_new > 4096:
                return self.error(400, "'max_tokens' must be an integer from 1 to 4096",
                                  "max_tokens")
            if len(tokens) + max_new > replica.args.max_tokens:
                return self.error(400, f"prompt and max_tokens exceed {replica.args.max_tokens}")
            sink = queue.Queue()
            replica.jobs.put((tokens, max_new, sink))
            stream = bool(body.get("stream"))
            kind = "chat.completion" if chat else "text_completion"

            def piece(text, finish=None):
                c = {"index": 0, "finish_reason": finish}
                if chat:
                    c["delta"] = {"content": text} if text else {}
                else:
                    c["text"] = text
                return c

            if stream:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def event(obj):
                data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) +
                        "\n\n").encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            text, n = [], 0
            while True:
                what, value = sink.get()
                if what == "error":
                    if stream:
                        event({"error": {"message": value}})
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    return self.error(500, value)
                if what == "end":
                    cached = value
                    break
                n += 1
                if stream:
                    event({"object": kind + (".chunk" if chat else ""), "model":
                           replica.args.model, "choices": [piece(f" t{value}")]})
                else:
                    text.append(f" t{value}")
            usage = {"prompt_tokens": len(tokens), "completion_tokens": n,
                     "total_tokens": len(tokens) + n,
                     "prompt_tokens_details": {"cached_tokens": cached}}
            if stream:
                event({"object": kind + (".chunk" if chat else ""), "model": replica.args.model,
                       "choices": [piece("", "length")]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    event({"object": kind + (".chunk" if chat else ""), "choices": [],
                           "usage": usage})
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                return
            choice = piece("".join(text), "length")
            if chat:
                choice = {"index": 0, "finish_reason": "length",
                          "message": {"role": "assistant", "content": "".join(text)}}
            self.send(200, json.dumps({"object": kind, "created": int(time.time()),
                                       "model": replica.args.model, "choices": [choice],
                                       "usage": usage}))
    return H


def main():
    warnings.filterwarnings("ignore", category=FutureWarning)  # past_key_values' new name
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default="awan-emulated")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--max-tokens", type=int, default=65536, help="context length")
    ap.add_argument("--cache-entries", type=int, default=16, help="prompts whose KV is kept")
    args = ap.parse_args()
    replica = Replica(args)
    ThreadingHTTPServer((args.host, args.port), handler(replica)).serve_forever()


if __name__ == "__main__":
    main()
