// `awan serve replay`: a recorded LLM trace (Azure, Mooncake) on emulated replicas, routed by each
// of the gateway's policies in turn, in virtual time (llm/replay.h). Runs standalone: no server.
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

#include "awan/gateway/balancer.h"
#include "awan/llm/autoscale_replay.h"
#include "awan/llm/live_replay.h"
#include "awan/llm/replay.h"
#include "commands.h"

namespace awan::cli {

llm::TimingModel TimingModelOf(const TimingArgs& args, int block_size) {
  llm::TimingModel m;
  m.prefill_s_per_token = args.prefill_ms_per_token / 1000;
  m.decode_s_per_step = args.decode_ms_per_step / 1000;
  m.decode_s_per_request = args.decode_ms_per_request / 1000;
  m.max_batch = args.max_batch;
  m.block_size = block_size;
  m.cache_blocks = std::max<int64_t>(1, args.cache_tokens / block_size);
  m.max_batched_tokens = args.max_batched_tokens;
  return m;
}

namespace {

// `--autoscalers`: every routing policy × autoscaler, replica-hours beside TTFT and goodput.
int ReplayAutoscalers(const ServeReplayArgs& args, const std::vector<llm::TraceRequest>& trace,
                      const std::vector<std::string>& policies,
                      const std::vector<std::string>& names, const llm::ReplayOptions& o) {
  if (args.max_replicas < args.min_replicas) {
    std::cerr << fmt::format("awan: --max-replicas ({}) is less than --min-replicas ({})\n",
                             args.max_replicas, args.min_replicas);
    return kExitBadInput;
  }
  spec::ReplicaPolicy base;
  base.min_replicas = args.min_replicas;
  base.max_replicas = args.max_replicas;
  base.upscale_delay_s = args.upscale_delay_s;
  base.downscale_delay_s = args.downscale_delay_s;
  std::vector<llm::Autoscaler> scalers;
  for (const std::string& name : names) {
    auto a = llm::ParseAutoscaler(name, base);
    if (!a.ok()) {
      std::cerr << "awan: " << a.status().message() << "\n";
      return kExitBadInput;
    }
    scalers.push_back(std::move(*a));
  }
  if (scalers.empty()) {
    std::cerr << "awan: --autoscalers names no autoscaler\n";
    return kExitBadInput;
  }
  llm::AutoscaleOptions scaling;
  scaling.replica_start_s = args.replica_start_s;
  scaling.load_window_s = args.load_window_s;
  std::cerr << fmt::format(
      "[awan] replaying {} requests ({:.0f} s of traffic at {:g}×) on {}..{} emulated replicas, "
      "{} autoscaler{} × {} polic{}\n",
      trace.size(), trace.back().arrival_s / args.speed, args.speed, args.min_replicas,
      args.max_replicas, scalers.size(), scalers.size() == 1 ? "" : "s", policies.size(),
      policies.size() == 1 ? "y" : "ies");
  std::vector<llm::AutoscaleResult> results;
  for (const std::string& p : policies) {
    for (const llm::Autoscaler& a : scalers) {
      std::cerr << fmt::format("[awan] {} with {} ...\n", a.name, p);
      auto r = llm::ReplayAutoscaled(trace, p, {a}, o, scaling);
      if (!r.ok()) {
        std::cerr << "awan: " << r.status().message() << "\n";
        return absl::IsInvalidArgument(r.status()) ? kExitBadInput : kExitFailed;
      }
      results.push_back(r->front());
    }
  }
  std::cout << (args.json ? llm::AutoscaleJson(results) : llm::AutoscaleTable(results, o, scaling));
  return kExitOk;
}

}  // namespace

int RunServeReplay(const ServeReplayArgs& args) {
  auto trace = llm::ReadTrace(args.trace, args.format, args.limit);
  if (!trace.ok()) {
    std::cerr << "awan: " << trace.status().message() << "\n";
    return kExitBadInput;
  }
  llm::ReplayOptions o;
  o.replicas = args.replicas;
  o.speed = args.speed;
  o.slo_ttft_s = args.slo_ttft_s;
  o.slo_tpot_s = args.slo_tpot_s;
  // A trace's own block size where it has block hashes (Mooncake: 512 tokens), else vLLM's 16.
  const int block = llm::TraceBlockTokens(args.format);
  o.model = TimingModelOf(args.timing, block > 0 ? block : 16);
  if (!args.url.empty() && !args.autoscalers.empty()) {
    std::cerr << "awan: --autoscalers runs on emulated replicas: leave out --url\n";
    return kExitBadInput;
  }
  if (args.url.empty() && !args.replica_metrics.empty()) {
    std::cerr << "awan: --replica-metrics goes with --url\n";
    return kExitBadInput;
  }
  if (!args.url.empty()) {  // a running route: real time, measured from here
    llm::LiveReplayOptions live;
    live.url = args.url;
    live.label = args.label;
    live.model = args.model;
    live.speed = args.speed;
    live.figures = o;
    for (size_t start = 0; start < args.replica_metrics.size();) {
      const size_t comma =
          std::min(args.replica_metrics.find(',', start), args.replica_metrics.size());
      if (comma > start)
        live.replica_metrics.push_back(args.replica_metrics.substr(start, comma - start));
      start = comma + 1;
    }
    if (!args.api_key_env.empty()) {
      const char* key = std::getenv(args.api_key_env.c_str());
      if (key == nullptr || *key == '\0') {
        std::cerr << fmt::format("awan: --api-key-env: ${} is not set\n", args.api_key_env);
        return kExitBadInput;
      }
      live.api_key = key;
    }
    std::cerr << fmt::format(
        "[awan] replaying {} requests ({:.0f} s of traffic at {:g}×) against {}\n", trace->size(),
        trace->back().arrival_s / args.speed, args.speed, args.url);
    auto r = llm::ReplayLive(*trace, live, [&](size_t done) {
      std::cerr << fmt::format("[awan] {}/{} requests done\n", done, trace->size());
    });
    if (!r.ok()) {
      std::cerr << "awan: " << r.status().message() << "\n";
      return kExitFailed;
    }
    if (r->failed > 0) {
      std::cerr << fmt::format(
          "[awan] {} requests failed (no answer, an error status, or cut "
          "short): left out of the figures\n",
          r->failed);
    }
    std::cout << (args.json ? llm::ReplayJson({r->result})
                            : llm::ReplayTable({r->result}, o, args.url));
    return r->failed > 0 && r->result.requests == 0 ? kExitFailed : kExitOk;
  }
  const auto split = [](const std::string& text) {
    std::vector<std::string> out;
    for (size_t start = 0; start <= text.size();) {
      const size_t comma = std::min(text.find(',', start), text.size());
      if (comma > start) out.push_back(text.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  };
  const bool autoscale = !args.autoscalers.empty();
  std::vector<std::string> policies =
      split(autoscale && !args.policies_given ? "least_load" : args.policies);
  if (policies.empty()) {
    std::cerr << "awan: --policies names no policy\n";
    return kExitBadInput;
  }
  for (const std::string& p : policies) {  // every name checked before any replay runs
    if (auto made = gateway::MakePolicy(p); !made.ok()) {
      std::cerr << "awan: --policies: " << made.status().message() << "\n";
      return kExitBadInput;
    }
  }
  if (autoscale) return ReplayAutoscalers(args, *trace, policies, split(args.autoscalers), o);
  std::cerr << fmt::format(
      "[awan] replaying {} requests ({:.0f} s of traffic at {:g}×) on {} "
      "emulated replicas, {} polic{}\n",
      trace->size(), trace->back().arrival_s / args.speed, args.speed, args.replicas,
      policies.size(), policies.size() == 1 ? "y" : "ies");
  std::vector<llm::PolicyResult> results;
  for (const std::string& p : policies) {
    std::cerr << fmt::format("[awan] {} ...\n", p);
    auto r = llm::Replay(*trace, {p}, o);
    if (!r.ok()) {
      std::cerr << "awan: " << r.status().message() << "\n";
      return absl::IsInvalidArgument(r.status()) ? kExitBadInput : kExitFailed;
    }
    results.push_back(r->front());
  }
  std::cout << (args.json ? llm::ReplayJson(results) : llm::ReplayTable(results, o));
  return kExitOk;
}

}  // namespace awan::cli
