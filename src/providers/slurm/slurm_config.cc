// The `slurm` provider kind's entry in a fleet config (docs/providers.md).
#include <fmt/format.h>

#include <filesystem>

#include "../registry.h"
#include "awan/common/text.h"
#include "awan/providers/slurm.h"

namespace awan::providers {

namespace fs = std::filesystem;

std::unique_ptr<Provider> MakeSlurmProvider(const std::string& name, const YAML::Node& entry,
                                            const std::string& field, const ConfigContext& ctx) {
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

}  // namespace awan::providers
