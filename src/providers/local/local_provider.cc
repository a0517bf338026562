#include "local_provider.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "awan/catalog/catalog.h"

namespace awan::providers {

LocalProvider::LocalProvider(LocalResources machine) : machine_(std::move(machine)) {}

void LocalProvider::AddOfferings(catalog::Catalog& catalog) const {
  const std::string host = machine_.hostname.empty() ? "localhost" : machine_.hostname;
  const double memory = std::floor(machine_.memory_gib * 10) / 10;
  catalog.Add({name_, "local", "", host, "", 0, static_cast<double>(machine_.cpus), memory,
               kLocalPrice, 0});
  // One offering per model and count: a task asking for H100:1 or H100:2 matches this machine
  // exactly.
  std::map<std::string, int> models;
  for (const LocalGpu& g : machine_.gpus) {
    // "NVIDIA H100 80GB HBM3" → "H100": the catalog's name for it is the first word after the
    // vendor.
    std::string model = g.name;
    if (model.rfind("NVIDIA ", 0) == 0) model = model.substr(7);
    model = model.substr(0, model.find(' '));
    ++models[model];
  }
  for (const auto& [model, count] : models) {
    for (int n = 1; n <= count; ++n) {
      catalog.Add({name_, "local", "", host, model, n, static_cast<double>(machine_.cpus), memory,
                   kLocalPrice, 0});
    }
  }
  catalog.SetProviderInfo(name_, fmt::format("this machine ({})", host), "");
}

ProvisionResult LocalProvider::Provision(int64_t job_id, const Offer& offer, int64_t now) {
  Allocation a;
  a.id = fmt::format("local-{}", job_id);
  a.region = "local";
  a.instance_type = offer.instance_type;
  for (int i = 0; i < offer.num_nodes; ++i) a.hosts.push_back(machine_.hostname);
  a.ready_at = now;
  return a;
}

absl::StatusOr<NodeHandle> LocalProvider::StartNode(const Allocation&, const NodeSpec& spec) {
  return providers::StartNode(spec);
}
NodeProbe LocalProvider::ProbeNode(const std::string& node_dir, const NodeHandle& handle) {
  return providers::ProbeNode(node_dir, handle);
}
void LocalProvider::SignalNode(const std::string&, const NodeHandle& handle, int signal) {
  providers::SignalNode(handle, signal);
}

}  // namespace awan::providers
