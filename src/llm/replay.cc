#include "awan/llm/replay.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awan/gateway/balancer.h"

namespace awan::llm {
namespace {

using J = nlohmann::ordered_json;

absl::Status LineError(const std::string& path, size_t line, const std::string& what) {
  return absl::InvalidArgumentError(fmt::format("{}:{}: {}", path, line, what));
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// "2023-11-16 18:17:03.9799600" → seconds since the epoch.
bool ParseTimestamp(const std::string& text, double& seconds) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double s = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &s) != 6) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s < 0 || s >= 61) return false;
  seconds = static_cast<double>(DaysFromCivil(y, mo, d)) * 86400 + h * 3600 + mi * 60 + s;
  return true;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

constexpr double kScrapeIntervalS = 0.1;

PolicyResult Summarize(std::string policy, const std::vector<Completion>& done, double start_s,
                       int64_t prefix_queries, int64_t prefix_hits, const std::vector<double>& load,
                       const ReplayOptions& options) {
  PolicyResult result;
  result.policy = std::move(policy);
  std::vector<double> ttft, e2e;
  double output_tokens = 0, last = 0, met = 0;
  for (const Completion& c : done) {
    ttft.push_back(c.first_token_s - c.arrival_s);
    e2e.push_back(c.finish_s - c.arrival_s);
    output_tokens += c.output_tokens;
    last = std::max(last, c.finish_s);
    const double tpot =
        c.output_tokens > 1 ? (c.finish_s - c.first_token_s) / (c.output_tokens - 1) : 0;
    if (c.first_token_s - c.arrival_s <= options.slo_ttft_s && tpot <= options.slo_tpot_s) ++met;
  }
  result.requests = static_cast<int64_t>(done.size());
  result.ttft_p50 = Percentile(ttft, 0.50);
  result.ttft_p90 = Percentile(ttft, 0.90);
  result.ttft_p99 = Percentile(ttft, 0.99);
  result.e2e_p50 = Percentile(e2e, 0.50);
  result.e2e_p99 = Percentile(e2e, 0.99);
  const double span = last - start_s;
  result.output_tokens_per_s = span > 0 ? output_tokens / span : 0;
  result.goodput = done.empty() ? 0 : met / static_cast<double>(done.size());
  result.prefix_hit_ratio =
      prefix_queries > 0 ? static_cast<double>(prefix_hits) / static_cast<double>(prefix_queries)
                         : 0;
  double total = 0, busiest = 0;
  for (double l : load) {
    total += l;
    busiest = std::max(busiest, l);
  }
  result.max_over_mean_load = total > 0 ? busiest / (total / static_cast<double>(load.size())) : 0;
  return result;
}

int TraceBlockTokens(const std::string& format) { return format == "mooncake" ? 512 : 0; }

absl::StatusOr<std::vector<TraceRequest>> ReadTrace(const std::string& path,
                                                    const std::string& format, size_t limit) {
  if (format != "mooncake" && format != "azure") {
    return absl::InvalidArgumentError(
        fmt::format("--format {}: not a trace format; formats: azure, mooncake", format));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read it", path));
  std::vector<TraceRequest> out;
  std::string line;
  size_t number = 0;
  double first = -1;
  while (std::getline(in, line) && (limit == 0 || out.size() < limit)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    TraceRequest r;
    double at = 0;
    if (format == "mooncake") {
      J j = J::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) return LineError(path, number, "not a JSON object");
      for (const char* field : {"timestamp", "input_length", "output_length"}) {
        if (!j.contains(field) || !j[field].is_number()) {
          return LineError(path, number, fmt::format("'{}' must be a number", field));
        }
      }
      at = j["timestamp"].get<double>() / 1000;
      const double prompt = j["input_length"].get<double>(),
                   output = j["output_length"].get<double>();
      if (!(prompt >= 0 && prompt <= 1e7) || !(output >= 0 && output <= 1e6) ||
          prompt != std::floor(prompt) || output != std::floor(output)) {
        return LineError(path, number,
                         "'input_length' must be a whole number within 0..10,000,000 and "
                         "'output_length' within 0..1,000,000");
      }
      if (!std::isfinite(at) || at < 0) {
        return LineError(path, number, "'timestamp' must be milliseconds since the start, ≥ 0");
      }
      r.prompt_tokens = static_cast<int>(prompt);
      r.output_tokens = static_cast<int>(output);
      if (j.contains("hash_ids")) {
        if (!j["hash_ids"].is_array()) return LineError(path, number, "'hash_ids' must be a list");
        for (const auto& h : j["hash_ids"]) {
          if (!h.is_number_integer()) {
            return LineError(path, number, "'hash_ids' must hold integers");
          }
          r.blocks.push_back(h.get<uint64_t>());
        }
      }
    } else {
      if (number == 1 && line.rfind("TIMESTAMP", 0) == 0) continue;  // the header
      std::stringstream fields(line);
      std::string ts, context, generated;
      if (!std::getline(fields, ts, ',') || !std::getline(fields, context, ',') ||
          !std::getline(fields, generated, ',')) {
        return LineError(path, number, "expected TIMESTAMP,ContextTokens,GeneratedTokens");
      }
      if (!ParseTimestamp(ts, at)) {
        return LineError(path, number,
                         fmt::format("TIMESTAMP '{}' is not YYYY-MM-DD HH:MM:SS", ts));
      }
      char* end = nullptr;
      const long long prompt = std::strtoll(context.c_str(), &end, 10);
      if (context.empty() || *end != '\0' || prompt < 0 || prompt > 10'000'000) {
        return LineError(path, number, "ContextTokens must be a whole number within 0..10,000,000");
      }
      const long long output = std::strtoll(generated.c_str(), &end, 10);
      if (generated.empty() || *end != '\0' || output < 0 || output > 1'000'000) {
        return LineError(path, number,
                         "GeneratedTokens must be a whole number within 0..1,000,000");
      }
      r.prompt_tokens = static_cast<int>(prompt);
      r.output_tokens = static_cast<int>(output);
    }
    if (first < 0) first = at;
    r.arrival_s = at - first;
    out.push_back(std::move(r));
  }
  if (out.empty()) return absl::InvalidArgumentError(fmt::format("{}: no requests in it", path));
  std::stable_sort(out.begin(), out.end(), [](const TraceRequest& a, const TraceRequest& b) {
    return a.arrival_s < b.arrival_s;
  });
  return out;
}

absl::StatusOr<std::vector<PolicyResult>> Replay(const std::vector<TraceRequest>& trace,
                                                 const std::vector<std::string>& policies,
                                                 const ReplayOptions& options) {
  if (options.replicas < 1 || options.replicas > 4096) {
    return absl::InvalidArgumentError("--replicas must be within 1..4096");
  }
  if (!(options.speed > 0)) return absl::InvalidArgumentError("--speed must be more than 0");
  std::vector<PolicyResult> results;
  for (const std::string& name : policies) {
    auto policy = gateway::MakePolicy(name);
    if (!policy.ok()) return policy.status();
    double now_s = 0;
    gateway::BalancerOptions bo;
    bo.now_ms = [&now_s] { return static_cast<int64_t>(now_s * 1000); };
    gateway::Balancer balancer(std::move(*policy), bo);
    std::vector<gateway::ReplicaAddress> set;
    for (int i = 0; i < options.replicas; ++i) {
      set.push_back({std::to_string(i), "emulated", 0});
    }
    balancer.SetReplicas(set);
    for (const auto& a : set) balancer.SetReady(a.id, true);
    std::vector<Engine> engines(static_cast<size_t>(options.replicas), Engine(options.model));
    std::map<uint64_t, gateway::Balancer::Lease> leases;
    std::vector<double> load(engines.size(), 0);
    std::vector<Completion> done;
    PolicyResult result;
    result.policy = name;
    const auto release = [&](size_t from) {
      for (size_t i = from; i < done.size(); ++i) {
        auto it = leases.find(done[i].id);
        if (it == leases.end()) continue;
        balancer.Release(it->second, gateway::Outcome::kOk);
        leases.erase(it);
      }
    };
    // The replicas' metrics, as a gateway scrapes them (ten times a second), for llm_score.
    double next_scrape = 0;
    const bool scrape = name == "llm_score";
    for (size_t n = 0; n < trace.size(); ++n) {
      const TraceRequest& t = trace[n];
      const double arrival = t.arrival_s / options.speed;
      while (scrape && next_scrape <= arrival) {
        now_s = next_scrape;
        const size_t before = done.size();
        for (size_t i = 0; i < engines.size(); ++i) {
          engines[i].RunUntil(now_s, done);
          balancer.SetMetrics(set[i].id,
                              {static_cast<double>(engines[i].waiting()),
                               static_cast<double>(engines[i].running()), engines[i].kv_usage()});
        }
        release(before);
        next_scrape += kScrapeIntervalS;
      }
      now_s = arrival;
      const size_t before = done.size();
      for (Engine& e : engines) e.RunUntil(now_s, done);
      release(before);
      gateway::RequestInfo info{t.prompt_tokens + t.output_tokens, t.blocks};
      auto lease = balancer.Acquire("", info);
      if (!lease) return absl::InternalError("no emulated replica is usable");
      const size_t index = static_cast<size_t>(std::stoul(lease->address().id));
      if (!engines[index].Submit(EngineRequest(t, n, now_s))) {
        ++result.refused;
        balancer.Release(*lease, gateway::Outcome::kOk);
        continue;
      }
      load[index] += t.prompt_tokens + t.output_tokens;
      leases.emplace(n, std::move(*lease));
    }
    for (Engine& e : engines) {
      while (std::isfinite(e.NextEventTime())) e.RunUntil(e.NextEventTime(), done);
    }
    release(0);
    int64_t queries = 0, hits = 0;
    for (const Engine& e : engines) {
      queries += e.prefix_queries();
      hits += e.prefix_hits();
    }
    const int64_t refused = result.refused;
    result = Summarize(name, done, trace.empty() ? 0 : trace.front().arrival_s / options.speed,
                       queries, hits, load, options);
    result.refused = refused;
    results.push_back(result);
  }
  return results;
}

std::string ReplayJson(const std::vector<PolicyResult>& results) {
  J policies = J::array();
  const auto r4 = [](double v) { return std::round(v * 10000) / 10000; };
  for (const PolicyResult& r : results) {
    policies.push_back(
        {{"policy", r.policy},
         {"ttft_s", {{"p50", r4(r.ttft_p50)}, {"p90", r4(r.ttft_p90)}, {"p99", r4(r.ttft_p99)}}},
         {"e2e_s", {{"p50", r4(r.e2e_p50)}, {"p99", r4(r.e2e_p99)}}},
         {"prefix_hit_ratio", r4(r.prefix_hit_ratio)},
         {"max_over_mean_load", r4(r.max_over_mean_load)},
         {"output_tokens_per_s", std::round(r.output_tokens_per_s * 10) / 10},
         {"goodput", r4(r.goodput)},
         {"requests", r.requests},
         {"refused", r.refused}});
  }
  return J{{"policies", policies}}.dump(2) + "\n";
}

std::string ReplayTable(const std::vector<PolicyResult>& results, const ReplayOptions& options,
                        std::string_view where) {
  std::string out = fmt::format("{:<16} {:>8} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9} {:>8} {:>9}\n",
                                "POLICY", "REQUESTS", "TTFT_P50", "TTFT_P90", "TTFT_P99", "E2E_P99",
                                "OUT_TOK/S", "GOODPUT", "PREFIX", "MAX/MEAN");
  for (const PolicyResult& r : results) {
    out += fmt::format(
        "{:<16} {:>8} {:>8.3f}s {:>8.3f}s {:>8.3f}s {:>8.2f}s {:>11.0f} {:>8.1f}% {:>7.1f}% "
        "{:>9}\n",
        r.policy, r.requests, r.ttft_p50, r.ttft_p90, r.ttft_p99, r.e2e_p99, r.output_tokens_per_s,
        r.goodput * 100, r.prefix_hit_ratio * 100,
        r.max_over_mean_load > 0 ? fmt::format("{:.2f}x", r.max_over_mean_load) : "-");
  }
  out += fmt::format(
      "({}; goodput: TTFT ≤ {:g} s and time per output token ≤ {:g} s; PREFIX: "
      "prompt tokens found in the replicas' KV caches; MAX/MEAN: the busiest replica's tokens over "
      "the mean)\n",
      where.empty() ? fmt::format("{} emulated replicas", options.replicas) : std::string(where),
      options.slo_ttft_s, options.slo_tpot_s);
  return out;
}

}  // namespace awan::llm
