// The `sim` provider kind's entry in a fleet config (docs/providers.md).
#include <fmt/format.h>

#include "../registry.h"
#include "awan/common/text.h"
#include "awan/providers/sim.h"

namespace awan::providers {

std::unique_ptr<Provider> MakeSimProvider(const std::string& name, const YAML::Node& entry,
                                          const std::string& field, const ConfigContext& ctx) {
  CheckFields(ctx, entry, field,
              {"name", "kind", "emulates", "regions", "default_capacity", "capacity", "quota",
               "delay_ms", "spot_preemptions_per_hour", "failures", "seed"});
  SimConfig c;
  c.name = name;
  c.emulates = entry["emulates"] ? entry["emulates"].Scalar() : name;
  if (!ctx.catalog.HasProvider(c.emulates)) {
    std::vector<std::string> known;
    for (const auto& p : ctx.catalog.providers()) known.push_back(p.name);
    throw EntryError{fmt::format("{}.emulates: the catalog has no provider '{}'{}; it has: {}",
                                 Where(ctx, entry["emulates"] ? entry["emulates"] : entry, field),
                                 c.emulates, DidYouMean(c.emulates, known),
                                 JoinLimited(known, known.size()))};
  }
  if (const YAML::Node regions = entry["regions"]) {
    for (const YAML::Node& r : regions) c.regions.push_back(r.Scalar());
  }
  if (const YAML::Node n = entry["default_capacity"])
    c.default_capacity = static_cast<int>(Int(ctx, n, field + ".default_capacity", 0, 1000000));
  if (const YAML::Node cap = entry["capacity"]) {
    for (auto it = cap.begin(); it != cap.end(); ++it) {
      c.capacity[it->first.Scalar()] = static_cast<int>(
          Int(ctx, it->second, field + ".capacity." + it->first.Scalar(), 0, 1000000));
    }
  }
  if (const YAML::Node quota = entry["quota"]) {
    for (auto it = quota.begin(); it != quota.end(); ++it) {
      c.quota[it->first.Scalar()] = static_cast<int>(
          Int(ctx, it->second, field + ".quota." + it->first.Scalar(), 0, 1000000));
    }
  }
  if (const YAML::Node delay = entry["delay_ms"]) {
    if (delay.IsSequence() && delay.size() == 2) {
      c.delay_min_ms = Int(ctx, delay[0], field + ".delay_ms", 0, 3600000);
      c.delay_max_ms = Int(ctx, delay[1], field + ".delay_ms", 0, 3600000);
    } else {
      c.delay_min_ms = c.delay_max_ms = Int(ctx, delay, field + ".delay_ms", 0, 3600000);
    }
    if (c.delay_max_ms < c.delay_min_ms) {
      throw EntryError{fmt::format("{}: write [MIN, MAX] with MIN <= MAX (milliseconds)",
                                   Where(ctx, delay, field + ".delay_ms"))};
    }
  }
  if (const YAML::Node rate = entry["spot_preemptions_per_hour"]) {
    c.spot_preemptions_per_hour = Number(ctx, rate, field + ".spot_preemptions_per_hour", 0, 3600);
  }
  if (const YAML::Node seed = entry["seed"])
    c.seed = static_cast<uint64_t>(Int(ctx, seed, field + ".seed", 0, int64_t{1} << 53));
  if (const YAML::Node failures = entry["failures"]) {
    for (size_t i = 0; i < failures.size(); ++i) {
      const YAML::Node f = failures[i];
      const std::string ff = fmt::format("{}.failures[{}]", field, i);
      SimFailure failure;
      const std::string kind = f["error"] ? f["error"].Scalar() : "";
      auto parsed = ParseErrorKind(kind);
      if (!parsed) {
        const std::vector<std::string> kinds = {
            "capacity_unavailable", "quota_exceeded", "auth_failed",
            "invalid_request",      "transient",      "provider_down"};
        throw EntryError{fmt::format("{}.error: '{}' is not an error kind{}; kinds: {}",
                                     Where(ctx, f, ff), kind, DidYouMean(kind, kinds),
                                     JoinLimited(kinds, kinds.size()))};
      }
      failure.kind = *parsed;
      if (f["region"]) failure.region = f["region"].Scalar();
      if (f["zone"]) failure.zone = f["zone"].Scalar();
      if (f["probability"])
        failure.probability = Number(ctx, f["probability"], ff + ".probability", 0, 1);
      c.failures.push_back(failure);
    }
  }
  auto sim = std::make_unique<SimProvider>(std::move(c), ctx.catalog);
  if (sim->offering_count() == 0) {
    throw EntryError{fmt::format("{}: no offering of '{}' is left in the regions chosen",
                                 Where(ctx, entry, field), sim->config().emulates)};
  }
  return sim;
}

}  // namespace awan::providers
