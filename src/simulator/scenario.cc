#include "awan/simulator/scenario.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "awan/common/text.h"
#include "awan/scheduler/yaml_fields.h"

namespace awan::simulator {
namespace {

class Parser : public scheduler::YamlFields {
 public:
  Parser(std::string_view source, const scheduler::FleetModel& fleet)
      : YamlFields(source), fleet_(fleet) {}

  // "12h", "3d", "90" (seconds) or a date "2026-03-01" (relative to the fleet's start).
  int64_t Time(const YAML::Node& v, const std::string& field) const {
    if (v.IsScalar()) {
      if (auto d = ParseDuration(v.Scalar())) return static_cast<int64_t>(*d);
      if (auto date = scheduler::ParseDate(v.Scalar())) return *date - fleet_.start_epoch_s;
    }
    Fail(v, field,
         "must be a time: a duration since the fleet's start (e.g. 36h, 3d) or a date YYYY-MM-DD");
  }
  int64_t Duration(const YAML::Node& v, const std::string& field) const {
    if (v.IsScalar()) {
      if (auto d = ParseDuration(v.Scalar())) return static_cast<int64_t>(*d);
    }
    Fail(v, field, "must be a duration, e.g. 30m, 12h, 180d");
  }

  Scenario Parse(const YAML::Node& root) {
    Scenario s;
    s.source = std::string(source_);
    if (!root || root.IsNull()) return s;
    Fields(root, "", {"checkpoint_interval", "horizon", "spot_interruptions_per_hour", "events"});
    if (root["checkpoint_interval"])
      s.checkpoint_interval_s = Duration(root["checkpoint_interval"], "checkpoint_interval");
    if (root["horizon"]) s.horizon_s = Time(root["horizon"], "horizon");
    if (const YAML::Node rate = root["spot_interruptions_per_hour"]) {
      auto v = rate.IsScalar() ? ParseNumber(rate.Scalar()) : std::nullopt;
      if (!v || *v < 0)
        Fail(rate, "spot_interruptions_per_hour", "must be a number of at least 0, e.g. 0.01");
      s.spot_interruptions_per_hour = *v;
    }
    const YAML::Node events = root["events"];
    if (events && !events.IsSequence())
      Fail(events, "events", "must be a list, e.g. - {at: 3d, outage: aws, for: 12h}");
    std::vector<std::string> providers, contracts;
    for (const auto& p : fleet_.pools) {
      if (std::find(providers.begin(), providers.end(), p.provider) == providers.end())
        providers.push_back(p.provider);
    }
    for (const auto& c : fleet_.contracts) contracts.push_back(c.name);
    for (size_t i = 0; events && i < events.size(); ++i) {
      const YAML::Node e = events[i];
      const std::string field = fmt::format("events[{}]", i);
      Fields(e, field, {"at", "outage", "region", "for", "contract", "slip"});
      if (e["outage"]) {
        OutageEvent o;
        if (!e["at"]) Fail(e, field + ".at", "is required: when the outage starts, e.g. at: 3d");
        o.at_s = Time(e["at"], field + ".at");
        o.provider = e["outage"].Scalar();
        if (std::find(providers.begin(), providers.end(), o.provider) == providers.end()) {
          Fail(e["outage"], field + ".outage",
               fmt::format("the fleet has no provider '{}'{}; it has: {}", o.provider,
                           DidYouMean(o.provider, providers), JoinLimited(providers, 10)));
        }
        if (e["region"]) {
          o.region = e["region"].Scalar();
          bool found = false;
          std::vector<std::string> regions;
          for (const auto& p : fleet_.pools) {
            if (p.provider != o.provider) continue;
            found = found || p.region == o.region;
            if (std::find(regions.begin(), regions.end(), p.region) == regions.end())
              regions.push_back(p.region);
          }
          if (!found) {
            Fail(e["region"], field + ".region",
                 fmt::format("provider '{}' has no region '{}' in the fleet{}; it has: {}",
                             o.provider, o.region, DidYouMean(o.region, regions),
                             JoinLimited(regions, 10)));
          }
        }
        if (e["for"]) o.for_s = Duration(e["for"], field + ".for");
        if (e["contract"] || e["slip"])
          Fail(e, field, "an event is either an outage or a contract slip, not both");
        s.outages.push_back(o);
      } else if (e["contract"]) {
        ContractSlip slip;
        slip.contract = e["contract"].Scalar();
        if (std::find(contracts.begin(), contracts.end(), slip.contract) == contracts.end()) {
          Fail(e["contract"], field + ".contract",
               fmt::format("the fleet has no contract '{}'{}", slip.contract,
                           DidYouMean(slip.contract, contracts)));
        }
        if (!e["slip"])
          Fail(e, field + ".slip", "is required: how much later the ramp comes, e.g. slip: 180d");
        slip.by_s = Duration(e["slip"], field + ".slip");
        if (e["at"] || e["for"] || e["region"])
          Fail(e, field, "a contract slip takes only `contract` and `slip`");
        s.slips.push_back(slip);
      } else {
        Fail(e, field,
             "say what happens: `outage: PROVIDER` (with at, optional region and for) or "
             "`contract: NAME` "
             "with `slip: DURATION`");
      }
    }
    std::stable_sort(s.outages.begin(), s.outages.end(),
                     [](const OutageEvent& a, const OutageEvent& b) { return a.at_s < b.at_s; });
    return s;
  }

 private:
  const scheduler::FleetModel& fleet_;
};

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view yaml, std::string_view source,
                                       const scheduler::FleetModel& fleet) {
  return scheduler::ParseYaml(
      yaml, source, [&](const YAML::Node& root) { return Parser(source, fleet).Parse(root); });
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path, const scheduler::FleetModel& fleet) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read the scenario file", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseScenario(text.str(), path, fleet);
}

scheduler::FleetModel ApplySlips(const scheduler::FleetModel& fleet, const Scenario& scenario) {
  scheduler::FleetModel out = fleet;
  for (const ContractSlip& slip : scenario.slips) {
    for (auto& c : out.contracts) {
      if (c.name != slip.contract) continue;
      for (size_t i = 1; i < c.ramp.size(); ++i) c.ramp[i].from_s += slip.by_s;
    }
  }
  return out;
}

}  // namespace awan::simulator
