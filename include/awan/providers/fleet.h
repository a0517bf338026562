// The fleet: the providers a server runs jobs on, declared in a config file
// ($AWAN_HOME/config.yaml, or --config) or, without one, the embedded default — this machine plus
// emulated Azure, GCP, AWS, OCI and CoreWeave regions built from the built-in catalog. Each
// provider kind is made by a factory in registry.cc (one line per kind). A provider whose config is
// wrong is left out with its error; the others still load.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/providers/local.h"
#include "awan/providers/provider.h"
#include "awan/scheduler/fleet_model.h"
#include "awan/storage/storage.h"

namespace awan::providers {

class SimProvider;
class Emulation;

// `failover:` in the fleet config.
struct FailoverSettings {
  int64_t block_ms = 5 * 60 * 1000;  // how long a failed zone/region/provider is skipped
  int64_t retry_base_ms = 2000;      // --retry-until-up: first wait
  int64_t retry_cap_ms = 60 * 1000;  // --retry-until-up: longest wait
};

// `scheduler:` in the fleet config: the server queues accelerator jobs in awan's fleet scheduler
// (the one `awan simulate` drives) over the pools of a fleet file, under a policy chosen by name.
struct SchedulerSettings {
  std::string fleet_file;  // as resolved (relative paths are read from the config file's folder)
  std::string policy = "fifo";
  std::shared_ptr<const scheduler::FleetModel> model;
};

struct Fleet {
  std::vector<std::unique_ptr<Provider>> providers;
  FailoverSettings failover;
  std::optional<SchedulerSettings> scheduler;  // none: jobs are placed in arrival order (FIFO)
  storage::Settings storage;                   // `storage:`: the stores buckets live in
  std::vector<std::string>
      errors;          // one per provider left out: "config.yaml:12:5: providers[2].kind: ..."
  std::string source;  // the config file, or "embedded default"

  Provider* Find(std::string_view name) const;
  // The emulation controls of an emulated provider of this name; nullptr for others.
  Emulation* FindEmulation(std::string_view name) const;
  // For the providers' own tests: the `sim` provider of this name, or nullptr.
  SimProvider* FindSim(std::string_view name) const;
  std::vector<std::string> Names() const;
  // Everything the fleet sells, for the optimizer (finalized).
  catalog::Catalog BuildCatalog() const;
};

// A fleet of this machine alone (the `local` provider).
Fleet LocalOnlyFleet(const LocalResources& machine);

// The embedded default fleet's config, as YAML (what `awan check-config --default` prints).
std::string DefaultFleetYaml();

// Parses a fleet config. `source` names it in errors; `catalog` is what sim providers emulate.
// Errors in one provider's entry go to Fleet::errors; a file that is not a fleet config at all is
// an error.
absl::StatusOr<Fleet> ParseFleet(std::string_view yaml, std::string_view source,
                                 const catalog::Catalog& catalog, const LocalResources& machine);

// `path` if given; else $AWAN_HOME/config.yaml if it exists; else the embedded default.
absl::StatusOr<Fleet> LoadFleet(const std::string& path, const std::string& awan_home,
                                const catalog::Catalog& catalog, const LocalResources& machine);

}  // namespace awan::providers
