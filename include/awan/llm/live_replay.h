// Trace replay against a running OpenAI-compatible endpoint (issue 12): a service's route on an
// awan gateway — or any router or server, a peer's included — is sent the trace's requests at their
// recorded arrivals (sped up by `speed`), each a streamed /v1/completions carrying the trace's
// token counts as the emulated replica reads them (input_length, hash_ids, max_tokens), and
// measured from the client: time to the first streamed byte of an answer (TTFT), to its end, and
// the prefix-cache hits the replicas report in usage.prompt_tokens_details.cached_tokens. A
// prompt's text names its blocks ("b<hash> " per trace block), so routers that match prompt text
// (sglang-router's and vllm-router's cache-aware policies) see the same prefixes as awan's, which
// reads hash_ids. The busiest replica's load is not seen from outside unless `replica_metrics`
// lists the replicas' /metrics URLs: their vLLM token counters are read before and after. What
// `awan serve replay --url` runs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/llm/replay.h"

namespace awan::llm {

struct LiveReplayOptions {
  std::string url;  // http://HOST:PORT (the route's endpoint)
  std::string label = "live";
  std::string model;    // sent as "model" when not empty
  std::string api_key;  // sent as `Authorization: Bearer` when not empty
  double speed = 1;
  double timeout_s = 600;  // a request not done by then counts as failed
  ReplayOptions figures;   // SLOs for goodput
  // http://HOST:PORT/metrics of each replica behind the endpoint (vLLM's counters), for MAX/MEAN.
  std::vector<std::string> replica_metrics;
};

// The tokens a replica has processed by its /metrics text: vllm:prompt_tokens_total plus
// vllm:generation_tokens_total (SGLang: sglang:prompt_tokens_total,
// sglang:generation_tokens_total), summed over label sets; nullopt when neither is there.
std::optional<double> ReplicaTokensProcessed(std::string_view metrics_text);

struct LiveReplayResult {
  PolicyResult result;
  int64_t failed = 0;  // no answer, an error status, or cut short
};

// Runs the whole trace; `progress` (when set) is called about once a second with the requests
// finished so far.
absl::StatusOr<LiveReplayResult> ReplayLive(const std::vector<TraceRequest>& trace,
                                            const LiveReplayOptions& options,
                                            const std::function<void(size_t)>& progress = {});

}  // namespace awan::llm
