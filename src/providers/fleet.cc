// Fleet config parsing: the providers (each kind's entry read by its folder's parser, found through
// the registry), failover settings and the fleet scheduler's section.
#include "awan/providers/fleet.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/providers/sim.h"
#include "awan/providers/slurm.h"
#include "awan/providers/ssh.h"
#include "awan/scheduler/scheduler.h"
#include "local/local_provider.h"
#include "registry.h"

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

// `scheduler: {fleet: FILE, policy: NAME}`: the fleet file is read now, relative to the config's
// folder.
SchedulerSettings ParseSchedulerSettings(const ConfigContext& ctx, const YAML::Node& node) {
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

// `storage: {default: local, local: {root: DIR}, s3: {endpoint, region, access_key_id_env,
// secret_access_key_env}}` (docs/storage.md).
storage::Settings ParseStorageSettings(const ConfigContext& ctx, const YAML::Node& node) {
  storage::Settings settings;
  if (!node.IsMap()) {
    throw EntryError{
        fmt::format("{}: must be a mapping, e.g. {{default: local, local: {{root: "
                    "/data/buckets}}}}",
                    Where(ctx, node, "storage"))};
  }
  CheckFields(ctx, node, "storage", {"default", "local", "s3", "write_back_seconds"});
  if (node["write_back_seconds"]) {
    settings.write_back_ms = static_cast<int64_t>(
        Number(ctx, node["write_back_seconds"], "storage.write_back_seconds", 0.1, 3600) * 1000);
  }
  const auto text = [&](const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      throw EntryError{fmt::format("{}: must be a non-empty string", Where(ctx, n, field))};
    }
    return n.Scalar();
  };
  if (const YAML::Node local = node["local"]) {
    if (!local.IsMap()) {
      throw EntryError{
          fmt::format("{}: must be a mapping {{root: DIR}}", Where(ctx, local, "storage.local"))};
    }
    CheckFields(ctx, local, "storage.local", {"root"});
    if (local["root"]) {
      fs::path root = text(local["root"], "storage.local.root");
      std::error_code ec;
      if (root.is_relative() && fs::is_regular_file(fs::path(ctx.source), ec)) {
        root = fs::path(ctx.source).parent_path() / root;
      }
      settings.local_root = root.lexically_normal().string();
    }
  }
  if (const YAML::Node s3 = node["s3"]) {
    if (!s3.IsMap()) {
      throw EntryError{fmt::format("{}: must be a mapping {{endpoint: URL, region: REGION}}",
                                   Where(ctx, s3, "storage.s3"))};
    }
    CheckFields(ctx, s3, "storage.s3",
                {"endpoint", "region", "access_key_id_env", "secret_access_key_env"});
    storage::S3Settings out;
    if (s3["endpoint"]) {
      out.endpoint = text(s3["endpoint"], "storage.s3.endpoint");
      if (out.endpoint.rfind("http://", 0) != 0 && out.endpoint.rfind("https://", 0) != 0) {
        throw EntryError{fmt::format("{}: '{}' is not an http:// or https:// URL",
                                     Where(ctx, s3["endpoint"], "storage.s3.endpoint"),
                                     out.endpoint)};
      }
    }
    if (s3["region"]) out.region = text(s3["region"], "storage.s3.region");
    if (s3["access_key_id_env"]) {
      out.access_key_id_env = text(s3["access_key_id_env"], "storage.s3.access_key_id_env");
    }
    if (s3["secret_access_key_env"]) {
      out.secret_access_key_env =
          text(s3["secret_access_key_env"], "storage.s3.secret_access_key_env");
    }
    settings.s3 = out;
  }
  if (const YAML::Node d = node["default"]) {
    settings.default_store = text(d, "storage.default");
    if (settings.default_store != "local" && !(settings.default_store == "s3" && settings.s3)) {
      throw EntryError{fmt::format("{}: '{}' is not a configured store; configured: local{}",
                                   Where(ctx, d, "storage.default"), settings.default_store,
                                   settings.s3 ? ", s3" : "")};
    }
  }
  return settings;
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
  - {name: hyperstack, kind: sim, emulates: hyperstack, default_capacity: 4, delay_ms: [200, 800]}
  - {name: vast, kind: sim, emulates: vast, default_capacity: 4, delay_ms: [200, 800]}
)";
}

absl::StatusOr<Fleet> ParseFleet(std::string_view yaml, std::string_view source,
                                 const catalog::Catalog& catalog, const LocalResources& machine) {
  if (std::string bad = Utf8Error(yaml, source); !bad.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  Fleet fleet;
  fleet.source = std::string(source);
  const ConfigContext ctx{source, catalog, machine};
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
    } else if (key == "storage") {
      try {
        fleet.storage = ParseStorageSettings(ctx, it->second);
      } catch (const EntryError& e) {
        return absl::InvalidArgumentError(e.message);
      }
    } else if (key != "providers") {
      return absl::InvalidArgumentError(fmt::format(
          "{}: unknown field{}; a fleet config has `providers:`, `failover:`, `scheduler:` and "
          "`storage:`",
          Where(ctx, it->first, key),
          DidYouMean(key,
                     std::vector<std::string>{"providers", "failover", "scheduler", "storage"})));
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
      const ProviderFactory* factory = BuiltinKinds().Find(kind);
      if (factory == nullptr) {
        const std::vector<std::string> kinds = BuiltinKinds().Names();
        throw EntryError{fmt::format("{}.kind: unknown provider kind '{}'{}; kinds: {}",
                                     Where(ctx, entry["kind"] ? entry["kind"] : entry, field), kind,
                                     DidYouMean(kind, kinds), JoinLimited(kinds, kinds.size()))};
      }
      fleet.providers.push_back((*factory)(name, entry, field, ctx));
    } catch (const EntryError& e) {
      fleet.errors.push_back(e.message);
    } catch (const YAML::Exception& e) {
      fleet.errors.push_back(fmt::format("{}: {}", Where(ctx, entry, field), e.msg));
    }
  }
  if (fleet.scheduler) {
    RETURN_IF_ERROR(CheckPools(fleet));
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
