// Trace replay on emulated LLM replicas (issue 12): recorded requests (arrival times, token counts,
// prefix blocks) are routed by the gateway's own balancer and policies (gateway/balancer.h) to N
// emulated replicas (llm/engine.h), all in virtual time in one process, and each policy's TTFT,
// latency, throughput, goodput, prefix-cache hits and load balance are reported. What
// `awan serve replay` runs. See docs/llm.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/llm/engine.h"

namespace awan::llm {

struct TraceRequest {
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  std::vector<uint64_t> blocks;  // prefix-block hashes (Mooncake's hash_ids); empty: none known
};

// Reads `path`: "mooncake" (JSONL: timestamp ms, input_length, output_length, hash_ids of 512-token
// blocks) or "azure" (CSV: TIMESTAMP, ContextTokens, GeneratedTokens; no prefix information).
// Arrivals start at 0. `limit` > 0 keeps the first `limit` requests. Errors name the file, line and
// field.
absl::StatusOr<std::vector<TraceRequest>> ReadTrace(const std::string& path,
                                                    const std::string& format, size_t limit = 0);
// The token block size of a format's block hashes (Mooncake: 512), 0 when it has none.
int TraceBlockTokens(const std::string& format);

// Trace request `id` as an emulated replica's request arriving at `at_s`.
inline Request EngineRequest(const TraceRequest& t, uint64_t id, double at_s) {
  Request r;
  r.id = id;
  r.arrival_s = at_s;
  r.prompt_tokens = t.prompt_tokens;
  r.output_tokens = t.output_tokens;
  r.blocks = t.blocks;
  return r;
}

struct ReplayOptions {
  int replicas = 8;
  TimingModel model;        // every replica's
  double speed = 1;         // arrivals sped up (2: twice as fast)
  double slo_ttft_s = 2;    // goodput: a request met its SLO when its TTFT and its time per
  double slo_tpot_s = 0.1;  // output token (after the first) are both within these
};

struct PolicyResult {
  std::string policy;
  int64_t requests = 0;
  double ttft_p50 = 0, ttft_p90 = 0, ttft_p99 = 0;
  double e2e_p50 = 0, e2e_p99 = 0;
  double output_tokens_per_s = 0;  // over the replay's span (first arrival to last finish)
  double goodput = 0;              // fraction of requests within both SLOs
  double prefix_hit_ratio = 0;     // prompt tokens found cached over prompt tokens
  double max_over_mean_load = 0;   // the busiest replica's tokens (prompt + output) over the mean
  int64_t refused = 0;             // requests larger than a replica's KV cache
};

// The figures of a replay from its finished requests (`start_s`: the first arrival), the prefix
// cache's counters (tokens) and each replica's load (tokens; empty when unknown: 0 then).
PolicyResult Summarize(std::string policy, const std::vector<Completion>& done, double start_s,
                       int64_t prefix_queries, int64_t prefix_hits, const std::vector<double>& load,
                       const ReplayOptions& options);

// Replays `trace` once per policy, each from fresh replicas.
absl::StatusOr<std::vector<PolicyResult>> Replay(const std::vector<TraceRequest>& trace,
                                                 const std::vector<std::string>& policies,
                                                 const ReplayOptions& options);

// The `--json` contract: {"policies": [{"policy", "ttft_s": {"p50", "p90", "p99"},
// "prefix_hit_ratio", "max_over_mean_load", "output_tokens_per_s", "requests", ...}]}.
std::string ReplayJson(const std::vector<PolicyResult>& results);
// `where`: what was replayed on, for the footnote ("" : the emulated replicas of `options`).
std::string ReplayTable(const std::vector<PolicyResult>& results, const ReplayOptions& options,
                        std::string_view where = "");

}  // namespace awan::llm
