// Fleet config parsing and the provider-kind registry.
#include "awan/providers/fleet.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "awan/common/text.h"
#include "awan/providers/sim.h"
#include "awan/providers/slurm.h"
#include "awan/providers/ssh.h"
#include "awan/scheduler/scheduler.h"
#include "local/local_provider.h"

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

struct Context {
  std::string_view source;
  const catalog::Catalog& catalog;
  const LocalResources& machine;
};

// Thrown inside a provider's entry; caught per entry so the other providers still load.
struct EntryError {
  std::string message;
};

std::string Where(const Context& ctx, const YAML::Node& node, const std::string& field) {
  const YAML::Mark m = node.Mark();
  return fmt::format("{}:{}:{}: {}", ctx.source, m.line + 1, m.column + 1, field);
}

void CheckFields(const Context& ctx, const YAML::Node& entry, const std::string& field,
                 const std::vector<std::string>& allowed) {
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw EntryError{fmt::format("{}.{}: unknown field{}; allowed: {}",
                                   Where(ctx, it->first, field), key, DidYouMean(key, allowed),
                                   JoinLimited(allowed, allowed.size()))};
    }
  }
}

// A number in [min, max]; every number of a fleet config is range-checked where it is read.
double Number(const Context& ctx, const YAML::Node& node, const std::string& field, double min = 0,
              double max = 1e9) {
  auto v = node.IsScalar() ? ParseNumber(node.Scalar()) : std::nullopt;
  if (!v || *v < min || *v > max) {
    throw EntryError{fmt::format("{}: must be a number of at least {:.12g} and at most {:.12g}{}",
                                 Where(ctx, node, field), min, max,
                                 node.IsScalar() ? fmt::format(", not {}", node.Scalar()) : "")};
  }
  return *v;
}

// A whole number in [min, max].
int64_t Int(const Context& ctx, const YAML::Node& node, const std::string& field, int64_t min,
            int64_t max) {
  const double v = Number(ctx, node, field, static_cast<double>(min), static_cast<double>(max));
  if (v != std::floor(v)) {
    throw EntryError{
        fmt::format("{}: must be a whole number, not {}", Where(ctx, node, field), node.Scalar())};
  }
  return static_cast<int64_t>(v);
}

using Factory =
    std::function<std::unique_ptr<Provider>(const std::string& name, const YAML::Node& entry,
                                            const std::string& field, const Context& ctx)>;

std::unique_ptr<Provider> MakeLocal(const std::string&, const YAML::Node& entry,
                                    const std::string& field, const Context& ctx) {
  CheckFields(ctx, entry, field, {"name", "kind"});
  return std::make_unique<LocalProvider>(ctx.machine);
}

std::unique_ptr<Provider> MakeSim(const std::string& name, const YAML::Node& entry,
                                  const std::string& field, const Context& ctx) {
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

std::unique_ptr<Provider> MakeSsh(const std::string& name, const YAML::Node& entry,
                                  const std::string& field, const Context& ctx) {
  CheckFields(
      ctx, entry, field,
      {"name", "kind", "region", "user", "key", "hosts", "remote_root", "connect_timeout_s"});
  SshConfig c;
  c.name = name;
  c.region = entry["region"] ? entry["region"].Scalar() : name;
  if (entry["remote_root"]) c.remote_root = entry["remote_root"].Scalar();
  if (entry["connect_timeout_s"])
    c.connect_timeout_s = static_cast<int>(
        Int(ctx, entry["connect_timeout_s"], field + ".connect_timeout_s", 1, 300));
  const std::string user = entry["user"] ? entry["user"].Scalar() : "";
  const std::string key = entry["key"] ? entry["key"].Scalar() : "";
  const YAML::Node hosts = entry["hosts"];
  if (!hosts || !hosts.IsSequence() || hosts.size() == 0) {
    throw EntryError{fmt::format("{}.hosts: list at least one host {{host, port, ...}}",
                                 Where(ctx, entry, field))};
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    const YAML::Node h = hosts[i];
    const std::string hf = fmt::format("{}.hosts[{}]", field, i);
    CheckFields(ctx, h, hf,
                {"host", "port", "user", "key", "accelerator", "accelerator_count", "cpus",
                 "memory_gib", "price"});
    SshHost host;
    if (!h["host"]) throw EntryError{fmt::format("{}.host: is required", Where(ctx, h, hf))};
    host.host = h["host"].Scalar();
    host.port = h["port"] ? static_cast<int>(Int(ctx, h["port"], hf + ".port", 1, 65535)) : 22;
    host.user = h["user"] ? h["user"].Scalar() : user;
    host.key = h["key"] ? h["key"].Scalar() : key;
    if (!host.key.empty() && !fs::exists(host.key)) {
      throw EntryError{fmt::format("{}.key: key file {} does not exist",
                                   Where(ctx, h["key"] ? h["key"] : entry, hf), host.key)};
    }
    if (h["accelerator"]) host.accelerator = h["accelerator"].Scalar();
    host.accelerator_count =
        h["accelerator_count"]
            ? static_cast<int>(Int(ctx, h["accelerator_count"], hf + ".accelerator_count", 0, 1024))
            : (host.accelerator.empty() ? 0 : 1);
    host.cpus = h["cpus"] ? Number(ctx, h["cpus"], hf + ".cpus", 0, 100000) : 1;
    host.memory_gib =
        h["memory_gib"] ? Number(ctx, h["memory_gib"], hf + ".memory_gib", 0, 1000000) : 1;
    host.price = h["price"] ? Number(ctx, h["price"], hf + ".price", 0, 1000000) : 0;
    c.hosts.push_back(host);
  }
  return std::make_unique<SshProvider>(std::move(c));
}

std::unique_ptr<Provider> MakeSlurm(const std::string& name, const YAML::Node& entry,
                                    const std::string& field, const Context& ctx) {
  CheckFields(
      ctx, entry, field,
      {"name", "kind", "slurm_conf", "partition", "nodes", "accelerator", "accelerator_count",
       "gres_type", "cpus", "memory_gib", "price", "immediate_seconds"});
  SlurmConfig c;
  c.name = name;
  if (entry["slurm_conf"]) {
    c.slurm_conf = entry["slurm_conf"].Scalar();
    if (!fs::exists(c.slurm_conf)) {
      throw EntryError{fmt::format("{}.slurm_conf: {} does not exist",
                                   Where(ctx, entry["slurm_conf"], field), c.slurm_conf)};
    }
  }
  if (entry["partition"]) c.partition = entry["partition"].Scalar();
  if (entry["nodes"])
    c.nodes = static_cast<int>(Int(ctx, entry["nodes"], field + ".nodes", 1, 1000000));
  if (entry["accelerator"]) c.accelerator = entry["accelerator"].Scalar();
  if (entry["accelerator_count"])
    c.accelerator_count = static_cast<int>(
        Int(ctx, entry["accelerator_count"], field + ".accelerator_count", 0, 1024));
  if (!c.accelerator.empty() && c.accelerator_count == 0) c.accelerator_count = 1;
  if (entry["gres_type"]) c.gres_type = entry["gres_type"].Scalar();
  if (entry["cpus"]) c.cpus = Number(ctx, entry["cpus"], field + ".cpus", 0, 100000);
  if (entry["memory_gib"])
    c.memory_gib = Number(ctx, entry["memory_gib"], field + ".memory_gib", 0, 1000000);
  if (entry["price"]) c.price = Number(ctx, entry["price"], field + ".price", 0, 1000000);
  if (entry["immediate_seconds"])
    c.immediate_seconds = static_cast<int>(
        Int(ctx, entry["immediate_seconds"], field + ".immediate_seconds", 0, 3600));
  return std::make_unique<SlurmProvider>(std::move(c));
}

// `scheduler: {fleet: FILE, policy: NAME}`: the fleet file is read now, relative to the config's
// folder.
SchedulerSettings ParseSchedulerSettings(const Context& ctx, const YAML::Node& node) {
  if (!node.IsMap()) {
    throw EntryError{fmt::format("{}: must be a mapping {{fleet: FLEET.yaml, policy: fifo}}",
                                 Where(ctx, node, "scheduler"))};
  }
  CheckFields(ctx, node, "scheduler", {"fleet", "policy"});
  SchedulerSettings settings;
  if (const YAML::Node policy = node["policy"]) {
    settings.policy = policy.Scalar();
    if (scheduler::MakePolicy(settings.policy) == nullptr) {
      const std::vector<std::string> names = scheduler::PolicyNames();
      throw EntryError{fmt::format(
          "{}: unknown policy '{}'{}; policies: {}", Where(ctx, policy, "scheduler.policy"),
          settings.policy, DidYouMean(settings.policy, names), JoinLimited(names, names.size()))};
    }
  }
  const YAML::Node file = node["fleet"];
  if (!file || !file.IsScalar() || file.Scalar().empty()) {
    throw EntryError{
        fmt::format("{}: name the fleet file whose pools the scheduler places jobs on, e.g. "
                    "fleet: fleets/lab.yaml (see docs/scheduler.md)",
                    Where(ctx, file ? file : node, "scheduler.fleet"))};
  }
  fs::path path = file.Scalar();
  std::error_code ec;
  if (path.is_relative() && fs::is_regular_file(fs::path(ctx.source), ec)) {
    path = fs::path(ctx.source).parent_path() / path;
  }
  settings.fleet_file = path.lexically_normal().string();
  auto model = scheduler::LoadFleetModel(settings.fleet_file);
  if (!model.ok()) {
    throw EntryError{fmt::format("{}: {}", Where(ctx, file, "scheduler.fleet"),
                                 std::string(model.status().message()))};
  }
  settings.model = std::make_shared<const scheduler::FleetModel>(std::move(*model));
  return settings;
}

// Each pool of the scheduler's fleet file must be sold by a provider of this config in its region,
// with its accelerator and accelerators per node: the scheduler's books and the providers' must
// agree.
absl::Status CheckPools(const Fleet& fleet) {
  const catalog::Catalog sold = fleet.BuildCatalog();
  const scheduler::FleetModel& model = *fleet.scheduler->model;
  // A pool's node is one instance of its provider, and a job takes whole nodes, so each accelerator
  // comes in one node size: the size a task asks for then names the pools that can hold it.
  for (const scheduler::Pool& a : model.pools) {
    for (const scheduler::Pool& b : model.pools) {
      if (EqualsIgnoreCase(a.accelerator, b.accelerator) &&
          a.accelerators_per_node < b.accelerators_per_node) {
        return absl::InvalidArgumentError(fmt::format(
            "{}: pools {} and {} sell {} in nodes of {} and {}; the server's fleet scheduler runs "
            "jobs on whole "
            "nodes (one instance each), so keep one node size per accelerator in this fleet file",
            model.source, a.name, b.name, a.accelerator, a.accelerators_per_node,
            b.accelerators_per_node));
      }
    }
  }
  for (const scheduler::Pool& pool : model.pools) {
    const std::string where = fmt::format("{}: pool {}", model.source, pool.name);
    if (fleet.Find(pool.provider) == nullptr) {
      return absl::InvalidArgumentError(
          fmt::format("{}: provider '{}' is not a provider of {}{}; its providers: {}", where,
                      pool.provider, fleet.source, DidYouMean(pool.provider, fleet.Names()),
                      JoinLimited(fleet.Names(), fleet.Names().size())));
    }
    bool region = false, found = false;
    std::vector<std::string> shapes;
    for (const catalog::Offering& o : sold.offerings()) {
      if (sold.Name(o.provider) != pool.provider || sold.Name(o.region) != pool.region) continue;
      region = true;
      if (o.accelerator == catalog::kNoSymbol) continue;
      const std::string shape = fmt::format("{}:{}", sold.Name(o.accelerator), o.accelerator_count);
      if (std::find(shapes.begin(), shapes.end(), shape) == shapes.end()) shapes.push_back(shape);
      found = found || (EqualsIgnoreCase(sold.Name(o.accelerator), pool.accelerator) &&
                        o.accelerator_count == pool.accelerators_per_node);
    }
    if (!region) {
      return absl::InvalidArgumentError(
          fmt::format("{}: provider {} sells nothing in region '{}'; give a region it has (awan "
                      "catalog ls --provider {})",
                      where, pool.provider, pool.region, pool.provider));
    }
    if (!found) {
      std::sort(shapes.begin(), shapes.end());
      return absl::InvalidArgumentError(
          fmt::format("{}: {} {} sells no node with {} × {}; it sells {}", where, pool.provider,
                      pool.region, pool.accelerators_per_node, pool.accelerator,
                      shapes.empty() ? "no accelerators" : JoinLimited(shapes, 12)));
    }
  }
  return absl::OkStatus();
}

// The provider kinds: adding one is a factory in its folder and one line here.
const std::map<std::string, Factory>& Factories() {
  static const std::map<std::string, Factory> kFactories = {
      {"local", MakeLocal},
      {"sim", MakeSim},
      {"ssh", MakeSsh},
      {"slurm", MakeSlurm},
  };
  return kFactories;
}

}  // namespace

Fleet LocalOnlyFleet(const LocalResources& machine) {
  Fleet fleet;
  fleet.providers.push_back(std::make_unique<LocalProvider>(machine));
  fleet.source = "this machine only";
  return fleet;
}

Provider* Fleet::Find(std::string_view name) const {
  for (const auto& p : providers) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

Emulation* Fleet::FindEmulation(std::string_view name) const {
  Provider* p = Find(name);
  return p != nullptr ? p->emulation() : nullptr;
}

SimProvider* Fleet::FindSim(std::string_view name) const {
  Provider* p = Find(name);
  return p != nullptr && p->kind() == "sim" ? static_cast<SimProvider*>(p) : nullptr;
}

std::vector<std::string> Fleet::Names() const {
  std::vector<std::string> out;
  for (const auto& p : providers) out.push_back(p->name());
  return out;
}

catalog::Catalog Fleet::BuildCatalog() const {
  catalog::Catalog c;
  for (const auto& p : providers) p->AddOfferings(c);
  c.Finalize();
  return c;
}

std::string DefaultFleetYaml() {
  return R"(# awan's embedded default fleet: this machine, plus emulated cloud regions (the `sim` provider)
# built from the built-in catalog. The emulated providers are a product feature and a stand-in for
# real clouds: their nodes run jobs as local processes. Copy this to $AWAN_HOME/config.yaml to change it.
providers:
  - {name: local, kind: local}
  - {name: aws, kind: sim, emulates: aws, default_capacity: 4, delay_ms: [200, 800], quota: {us-east-1: 32}}
  - {name: azure, kind: sim, emulates: azure, default_capacity: 4, delay_ms: [300, 1200]}
  - {name: gcp, kind: sim, emulates: gcp, default_capacity: 4, delay_ms: [200, 900]}
  - {name: oci, kind: sim, emulates: oci, default_capacity: 4, delay_ms: [300, 1000]}
  - {name: coreweave, kind: sim, emulates: coreweave, default_capacity: 4, delay_ms: [100, 500]}
)";
}

absl::StatusOr<Fleet> ParseFleet(std::string_view yaml, std::string_view source,
                                 const catalog::Catalog& catalog, const LocalResources& machine) {
  if (std::string bad = Utf8Error(yaml, source); !bad.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  Fleet fleet;
  fleet.source = std::string(source);
  const Context ctx{source, catalog, machine};
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: YAML syntax error: {}", source,
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap() || !root["providers"] || !root["providers"].IsSequence()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: a fleet config is a mapping with `providers:`, a list of {{name, kind, "
                    "...}} (see docs/providers.md)",
                    source));
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (key == "failover") {
      try {
        const YAML::Node f = it->second;
        CheckFields(ctx, f, "failover",
                    {"block_seconds", "retry_base_seconds", "retry_cap_seconds"});
        if (f["block_seconds"])
          fleet.failover.block_ms = static_cast<int64_t>(
              Number(ctx, f["block_seconds"], "failover.block_seconds", 0, 86400 * 30) * 1000);
        if (f["retry_base_seconds"])
          fleet.failover.retry_base_ms = static_cast<int64_t>(
              Number(ctx, f["retry_base_seconds"], "failover.retry_base_seconds", 0, 86400) * 1000);
        if (f["retry_cap_seconds"])
          fleet.failover.retry_cap_ms = static_cast<int64_t>(
              Number(ctx, f["retry_cap_seconds"], "failover.retry_cap_seconds", 0, 86400) * 1000);
      } catch (const EntryError& e) {
        return absl::InvalidArgumentError(e.message);
      }
    } else if (key == "scheduler") {
      try {
        fleet.scheduler = ParseSchedulerSettings(ctx, it->second);
      } catch (const EntryError& e) {
        return absl::InvalidArgumentError(e.message);
      }
    } else if (key != "providers") {
      return absl::InvalidArgumentError(fmt::format(
          "{}: unknown field{}; a fleet config has `providers:`, `failover:` and `scheduler:`",
          Where(ctx, it->first, key),
          DidYouMean(key, std::vector<std::string>{"providers", "failover", "scheduler"})));
    }
  }
  std::set<std::string> names;
  const YAML::Node list = root["providers"];
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    const std::string field = fmt::format("providers[{}]", i);
    try {
      if (!entry.IsMap())
        throw EntryError{
            fmt::format("{}: must be a mapping {{name, kind, ...}}", Where(ctx, entry, field))};
      const std::string name = entry["name"] ? entry["name"].Scalar() : "";
      const std::string kind = entry["kind"] ? entry["kind"].Scalar() : "";
      if (name.empty())
        throw EntryError{fmt::format("{}.name: is required", Where(ctx, entry, field))};
      if (!names.insert(name).second) {
        throw EntryError{
            fmt::format("{}.name: '{}' is declared twice", Where(ctx, entry["name"], field), name)};
      }
      auto factory = Factories().find(kind);
      if (factory == Factories().end()) {
        std::vector<std::string> kinds;
        for (const auto& [k, f] : Factories()) kinds.push_back(k);
        throw EntryError{fmt::format("{}.kind: unknown provider kind '{}'{}; kinds: {}",
                                     Where(ctx, entry["kind"] ? entry["kind"] : entry, field), kind,
                                     DidYouMean(kind, kinds), JoinLimited(kinds, kinds.size()))};
      }
      fleet.providers.push_back(factory->second(name, entry, field, ctx));
    } catch (const EntryError& e) {
      fleet.errors.push_back(e.message);
    } catch (const YAML::Exception& e) {
      fleet.errors.push_back(fmt::format("{}: {}", Where(ctx, entry, field), e.msg));
    }
  }
  if (fleet.scheduler) {
    if (absl::Status s = CheckPools(fleet); !s.ok()) return s;
  }
  return fleet;
}

absl::StatusOr<Fleet> LoadFleet(const std::string& path, const std::string& awan_home,
                                const catalog::Catalog& catalog, const LocalResources& machine) {
  std::string file = path;
  std::error_code ec;
  if (file.empty() && !awan_home.empty() && fs::exists(fs::path(awan_home) / "config.yaml", ec)) {
    file = (fs::path(awan_home) / "config.yaml").string();
  }
  if (file.empty()) return ParseFleet(DefaultFleetYaml(), "embedded default", catalog, machine);
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read the fleet config", file));
  std::stringstream text;
  text << in.rdbuf();
  return ParseFleet(text.str(), file, catalog, machine);
}

}  // namespace awan::providers
