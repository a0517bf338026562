#include "awan/scheduler/fleet_model.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "awan/common/text.h"
#include "awan/scheduler/yaml_fields.h"

namespace awan::scheduler {
namespace {

class Parser : public YamlFields {
 public:
  explicit Parser(std::string_view source) : YamlFields(source) {}

  std::string Text(const YAML::Node& map, const char* key, const std::string& field,
                   bool required = true) const {
    const YAML::Node v = map[key];
    if (!v || v.IsNull()) {
      if (required) Fail(map, field + "." + key, "is required");
      return {};
    }
    if (!v.IsScalar()) Fail(v, field + "." + key, "must be a string");
    return v.Scalar();
  }

  static constexpr int64_t kMaxFleetNodes = 10'000'000;

  // Every number of a fleet file is range-checked where it is read.
  double Number(const YAML::Node& v, const std::string& field, double min = 0,
                double max = 1e6) const {
    auto n = v.IsScalar() ? ParseNumber(v.Scalar()) : std::nullopt;
    if (!n || *n < min || *n > max) {
      Fail(v, field,
           fmt::format("must be a number of at least {:.12g} and at most {:.12g}{}", min, max,
                       v.IsScalar() ? fmt::format(", not {}", v.Scalar()) : ""));
    }
    return *n;
  }
  int64_t Int(const YAML::Node& v, const std::string& field, int64_t min, int64_t max) const {
    const double n = Number(v, field, static_cast<double>(min), static_cast<double>(max));
    if (n != std::floor(n))
      Fail(v, field, fmt::format("must be a whole number, not {}", v.Scalar()));
    return static_cast<int64_t>(n);
  }

  int64_t Date(const YAML::Node& v, const std::string& field) const {
    auto d = v.IsScalar() ? ParseDate(v.Scalar()) : std::nullopt;
    if (!d) Fail(v, field, "must be a date YYYY-MM-DD");
    return *d;
  }

  FleetModel Parse(const YAML::Node& root) {
    FleetModel f;
    f.source = std::string(source_);
    Fields(root, "", {"name", "start", "pools", "contracts", "on_demand", "teams"});
    f.name = Text(root, "name", "fleet", false);
    if (!root["start"])
      Fail(root, "start", "is required: the fleet's time zero, e.g. start: 2026-01-01");
    f.start_epoch_s = Date(root["start"], "start");
    const YAML::Node pools = root["pools"];
    if (!pools || !pools.IsSequence() || pools.size() == 0)
      Fail(pools ? pools : root, "pools", "list at least one pool");
    std::set<std::string> names;
    for (size_t i = 0; i < pools.size(); ++i) {
      const YAML::Node p = pools[i];
      const std::string field = fmt::format("pools[{}]", i);
      Fields(p, field,
             {"name", "provider", "region", "domain", "accelerator", "accelerators_per_node",
              "nodes"});
      Pool pool;
      pool.provider = Text(p, "provider", field);
      pool.region = Text(p, "region", field);
      pool.domain = Text(p, "domain", field, false);
      if (pool.domain.empty()) pool.domain = pool.provider + "/" + pool.region;
      pool.accelerator = Text(p, "accelerator", field);
      pool.name = Text(p, "name", field, false);
      if (pool.name.empty())
        pool.name = fmt::format("{}/{}/{}", pool.provider, pool.domain, pool.accelerator);
      if (!names.insert(pool.name).second)
        Fail(p, field + ".name", fmt::format("'{}' is used twice", pool.name));
      if (p["accelerators_per_node"]) {
        pool.accelerators_per_node = static_cast<int>(
            Int(p["accelerators_per_node"], field + ".accelerators_per_node", 1, 1024));
      }
      if (!p["nodes"]) Fail(p, field + ".nodes", "is required");
      pool.nodes = static_cast<int>(Int(p["nodes"], field + ".nodes", 1, 1000000));
      f.pools.push_back(pool);
    }
    if (const YAML::Node contracts = root["contracts"]) {
      for (size_t i = 0; i < contracts.size(); ++i) {
        const YAML::Node c = contracts[i];
        const std::string field = fmt::format("contracts[{}]", i);
        Fields(c, field, {"name", "provider", "accelerator", "price_per_accelerator_hour", "ramp"});
        Contract contract;
        contract.name = Text(c, "name", field, false);
        contract.provider = Text(c, "provider", field);
        contract.accelerator = Text(c, "accelerator", field);
        if (!c["price_per_accelerator_hour"])
          Fail(c, field + ".price_per_accelerator_hour", "is required");
        contract.price_per_accelerator_hour =
            Number(c["price_per_accelerator_hour"], field + ".price_per_accelerator_hour");
        const YAML::Node ramp = c["ramp"];
        if (!ramp || !ramp.IsSequence() || ramp.size() == 0) {
          Fail(ramp ? ramp : c, field + ".ramp",
               "list the steps: - {from: 2026-01-01, accelerators: 1024}");
        }
        for (size_t s = 0; s < ramp.size(); ++s) {
          const std::string sf = fmt::format("{}.ramp[{}]", field, s);
          Fields(ramp[s], sf, {"from", "accelerators"});
          if (!ramp[s]["from"] || !ramp[s]["accelerators"])
            Fail(ramp[s], sf, "needs `from` and `accelerators`");
          contract.ramp.push_back(
              {Date(ramp[s]["from"], sf + ".from") - f.start_epoch_s,
               Int(ramp[s]["accelerators"], sf + ".accelerators", 0, 1000000000)});
        }
        std::sort(contract.ramp.begin(), contract.ramp.end(),
                  [](const RampStep& a, const RampStep& b) { return a.from_s < b.from_s; });
        f.contracts.push_back(contract);
      }
    }
    if (const YAML::Node markets = root["on_demand"]) {
      for (size_t i = 0; i < markets.size(); ++i) {
        const YAML::Node m = markets[i];
        const std::string field = fmt::format("on_demand[{}]", i);
        Fields(m, field,
               {"provider", "accelerator", "max_on_demand", "max_spot",
                "price_per_accelerator_hour", "spot_price_per_accelerator_hour"});
        MarketLimit limit;
        limit.provider = Text(m, "provider", field);
        limit.accelerator = Text(m, "accelerator", field);
        if (m["max_on_demand"])
          limit.max_on_demand = Int(m["max_on_demand"], field + ".max_on_demand", 0, 1000000000);
        if (m["max_spot"]) limit.max_spot = Int(m["max_spot"], field + ".max_spot", 0, 1000000000);
        if (m["price_per_accelerator_hour"]) {
          limit.price_per_accelerator_hour =
              Number(m["price_per_accelerator_hour"], field + ".price_per_accelerator_hour");
        }
        if (m["spot_price_per_accelerator_hour"]) {
          limit.spot_price_per_accelerator_hour = Number(
              m["spot_price_per_accelerator_hour"], field + ".spot_price_per_accelerator_hour");
        }
        f.markets.push_back(limit);
      }
    }
    if (const YAML::Node teams = root["teams"]) {
      std::set<std::string> team_names;
      for (size_t i = 0; i < teams.size(); ++i) {
        const YAML::Node t = teams[i];
        const std::string field = fmt::format("teams[{}]", i);
        Fields(t, field, {"name", "weight", "quota"});
        Team team;
        team.name = Text(t, "name", field);
        if (!team_names.insert(team.name).second)
          Fail(t, field + ".name", fmt::format("'{}' is used twice", team.name));
        if (t["weight"]) team.weight = Number(t["weight"], field + ".weight", 0.001);
        if (const YAML::Node q = t["quota"]) {
          if (!q.IsMap())
            Fail(q, field + ".quota", "must map accelerators to counts, e.g. {H100: 4096}");
          for (auto it = q.begin(); it != q.end(); ++it) {
            team.quota[it->first.Scalar()] =
                Int(it->second, field + ".quota." + it->first.Scalar(), 0, 1000000000);
          }
        }
        f.teams.push_back(team);
      }
    }
    // The books hold every node: a fleet far past any real one is a typo, not a plan.
    int64_t nodes = 0;
    for (const Pool& p : f.pools) nodes += p.nodes;
    if (nodes > kMaxFleetNodes) {
      Fail(root["pools"], "pools",
           fmt::format("{} nodes in all; a fleet file holds at most {} (check the pools' `nodes`)",
                       nodes, kMaxFleetNodes));
    }
    return f;
  }
};

}  // namespace

std::optional<int64_t> ParseDate(std::string_view text) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (std::sscanf(std::string(text).c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
    return std::nullopt;
  if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1970) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm): no time zone involved.
  y -= m <= 2 ? 1 : 0;
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return days * 86400;
}

int64_t Contract::CommittedAt(int64_t t) const {
  int64_t committed = 0;
  for (const RampStep& s : ramp) {
    if (s.from_s <= t) committed = s.accelerators;
  }
  return committed;
}

int64_t FleetModel::TotalAccelerators() const {
  int64_t n = 0;
  for (const Pool& p : pools) n += p.accelerators();
  return n;
}

int64_t FleetModel::TotalNodes() const {
  int64_t n = 0;
  for (const Pool& p : pools) n += p.nodes;
  return n;
}

std::map<std::string, int64_t> FleetModel::AcceleratorsByProvider() const {
  std::map<std::string, int64_t> out;
  for (const Pool& p : pools) out[p.provider] += p.accelerators();
  return out;
}

size_t FleetModel::Domains() const {
  std::set<std::string> s;
  for (const Pool& p : pools) s.insert(p.domain);
  return s.size();
}

size_t FleetModel::Regions() const {
  std::set<std::string> s;
  for (const Pool& p : pools) s.insert(p.provider + "/" + p.region);
  return s.size();
}

absl::StatusOr<FleetModel> ParseFleetModel(std::string_view yaml, std::string_view source) {
  return ParseYaml(yaml, source,
                   [&](const YAML::Node& root) { return Parser(source).Parse(root); });
}

absl::StatusOr<FleetModel> LoadFleetModel(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read the fleet file", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseFleetModel(text.str(), path);
}

}  // namespace awan::scheduler
