// The emulated LLM replica's server (issue 12): an OpenAI-compatible HTTP server around one
// Engine (llm/engine.h) stepped against the wall clock — what `awan llm-replica` runs. A product
// feature (demos and planning without GPUs) and the test double of a vLLM/SGLang replica: it is not
// a model server, its text is filler and its timing is the documented model's (docs/llm.md).
//
// API (OpenAI's, as vLLM serves it): POST /v1/chat/completions and /v1/completions, `stream: true`
// as server-sent events ending in `data: [DONE]`, `stream_options.include_usage`; usage with
// `prompt_tokens_details.cached_tokens`; GET /v1/models, /health, and /metrics in Prometheus text
// with vLLM's metric names. A request makes exactly its `max_completion_tokens` / `max_tokens`
// (256 when absent; finish_reason "length"). Besides text, a request may carry its prompt as a
// trace does (awan's extension, Mooncake's field names): `input_length` tokens whose 512-token
// blocks have the prefix hashes `hash_ids`.
//
// Thread-compatible: Start, SetFault and Stop from any one thread; the server runs on its own.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "awan/llm/engine.h"

namespace awan::llm {

struct ReplicaServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  std::string model = "awan-emulated";
  TimingModel timing;
  // When set, requests must carry `Authorization: Bearer KEY` (401 otherwise, as OpenAI answers).
  std::string api_key;
  // Bodies larger than this are refused (413).
  size_t max_body_bytes = 8 << 20;
};

// Misbehaviour on purpose, for tests of what sits in front of a replica (fallback, retries).
struct Fault {
  int status = 0;           // answer the next requests with this status (429, 500, 503...)
  std::string retry_after;  // and this Retry-After header, when not empty
  int count = -1;           // for this many requests (-1: until changed)
  double delay_s = 0;       // wait this long before answering anything (a slow replica)
  // Stream this many tokens, then break the connection (a replica that dies mid-answer); -1: no.
  int break_after_tokens = -1;
};

class ReplicaServer {
 public:
  explicit ReplicaServer(ReplicaServerOptions options);
  ~ReplicaServer();  // Stop()
  ReplicaServer(const ReplicaServer&) = delete;
  ReplicaServer& operator=(const ReplicaServer&) = delete;

  // Listens and serves on its own thread; the port bound.
  absl::StatusOr<int> Start();
  void SetFault(const Fault& fault);
  // Requests answered with 200 so far (any path but /metrics and /health).
  int64_t completed() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace awan::llm
