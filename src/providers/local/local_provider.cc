#include "local_provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "awan/catalog/catalog.h"
#include "awan/common/status_macros.h"
#include "awan/spec/task_parser.h"

namespace awan::providers {

LocalProvider::LocalProvider(LocalResources machine)
    : machine_(std::move(machine)),
      total_millis_(int64_t{machine_.cpus} * 1000),
      total_mib_(std::llround(machine_.memory_gib * 1024)) {
  gpu_used_.assign(machine_.gpus.size(), false);
}

void LocalProvider::AddOfferings(catalog::Catalog& catalog) const {
  const std::string host = machine_.hostname.empty() ? "localhost" : machine_.hostname;
  const double memory = std::floor(machine_.memory_gib * 10) / 10;
  catalog::OfferingRow row{name_,  "local",     "", host, "", 0, static_cast<double>(machine_.cpus),
                           memory, kLocalPrice, 0};
  row.divisible = true;  // shared out by CPUs and memory
  catalog.Add(row);
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
      row.accelerator = model;
      row.accelerator_count = n;
      catalog.Add(row);
    }
  }
  catalog.SetProviderInfo(name_, fmt::format("this machine ({})", host), "");
}

ProvisionResult LocalProvider::Provision(int64_t job_id, const Offer& offer, int64_t now) {
  const int64_t nodes = offer.num_nodes;
  const int64_t millis = CpuMillis(offer) * nodes;
  const int64_t mib = offer.memory_mib * nodes;
  const int64_t gpus = int64_t{offer.accelerator_count} * nodes;
  int64_t matching = 0;
  for (const LocalGpu& g : machine_.gpus) matching += GpuMatches(g.name, offer.accelerator) ? 1 : 0;
  if (millis > total_millis_ || mib > total_mib_ || gpus > matching) {
    return ProviderError{ErrorKind::kInvalidRequest,
                         fmt::format("this machine has {} CPUs, {} MiB and {} matching GPU(s); the "
                                     "job needs {:g} CPUs, {} MiB and {} GPU(s)",
                                     machine_.cpus, total_mib_, matching,
                                     static_cast<double>(millis) / 1000, mib, gpus)};
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<size_t> chosen;
  for (size_t i = 0; i < machine_.gpus.size() && static_cast<int64_t>(chosen.size()) < gpus; ++i) {
    if (!gpu_used_[i] && GpuMatches(machine_.gpus[i].name, offer.accelerator)) chosen.push_back(i);
  }
  if (used_millis_ + millis > total_millis_ || used_mib_ + mib > total_mib_ ||
      static_cast<int64_t>(chosen.size()) < gpus) {
    return ProviderError{
        ErrorKind::kCapacityUnavailable,
        fmt::format("this machine has {:g} of {} CPUs, {} of {} MiB and {} GPU(s) free",
                    static_cast<double>(total_millis_ - used_millis_) / 1000, machine_.cpus,
                    total_mib_ - used_mib_, total_mib_,
                    std::count(gpu_used_.begin(), gpu_used_.end(), false))};
  }
  Allocation a;
  a.id = fmt::format("local-{}-{}", job_id, next_id_++);
  a.region = "local";
  a.instance_type = offer.instance_type;
  a.ready_at = now;
  for (int64_t n = 0; n < nodes; ++n) {
    a.hosts.push_back(machine_.hostname);
    a.addresses.push_back("127.0.0.1");
    std::vector<int> devices;
    for (int64_t g = 0; g < offer.accelerator_count; ++g) {
      devices.push_back(
          machine_.gpus[chosen[static_cast<size_t>(n * offer.accelerator_count + g)]].index);
    }
    a.devices.push_back(std::move(devices));
  }
  used_millis_ += millis;
  used_mib_ += mib;
  for (size_t i : chosen) gpu_used_[i] = true;
  held_[a.id] = {millis, mib, std::move(chosen)};
  return a;
}

void LocalProvider::Release(const std::string& allocation_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(allocation_id);
  if (it == held_.end()) return;
  used_millis_ -= it->second.cpu_millis;
  used_mib_ -= it->second.memory_mib;
  for (size_t i : it->second.gpus) gpu_used_[i] = false;
  held_.erase(it);
}

void LocalProvider::Readopt(const Allocation& allocation, const Offer& offer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (held_.count(allocation.id) != 0) return;
  Held h{CpuMillis(offer) * offer.num_nodes, offer.memory_mib * offer.num_nodes, {}};
  for (const std::vector<int>& node : allocation.devices) {
    for (int index : node) {
      for (size_t i = 0; i < machine_.gpus.size(); ++i) {
        if (machine_.gpus[i].index == index && !gpu_used_[i]) {
          gpu_used_[i] = true;
          h.gpus.push_back(i);
        }
      }
    }
  }
  used_millis_ += h.cpu_millis;
  used_mib_ += h.memory_mib;
  held_[allocation.id] = std::move(h);
}

std::optional<std::string> LocalProvider::WhyNever(const spec::Task& task) const {
  std::vector<std::string> why;
  const int nodes = task.num_nodes;
  for (const spec::Resources& r : task.resources) {
    const std::string label = spec::AcceleratorLabel(r);
    if (!r.provider.empty() && r.provider != name_) {
      why.push_back(fmt::format("{} asks for provider '{}', not this machine", label, r.provider));
      continue;
    }
    const double cpus = r.cpus ? r.cpus->value : 1;
    const double memory = r.memory_gib ? r.memory_gib->value : 0;
    const int gpus = r.accelerator.empty() ? 0 : r.accelerator_count;
    const int matching = static_cast<int>(
        std::count_if(machine_.gpus.begin(), machine_.gpus.end(),
                      [&](const LocalGpu& g) { return GpuMatches(g.name, r.accelerator); }));
    if (cpus * nodes > machine_.cpus) {
      why.push_back(fmt::format("{} needs {:g} CPUs ({:g} per node × {}); this machine has {}",
                                label, cpus * nodes, cpus, nodes, machine_.cpus));
    } else if (memory * nodes > machine_.memory_gib) {
      why.push_back(fmt::format("{} needs {:.1f} GiB of memory; this machine has {:.1f}", label,
                                memory * nodes, machine_.memory_gib));
    } else if (gpus * nodes > matching) {
      const std::string have = machine_.gpus.empty() ? "no GPUs"
                                                     : fmt::format("{} × {}", machine_.gpus.size(),
                                                                   machine_.gpus[0].name);
      why.push_back(fmt::format("{} needs {} {} GPU(s) ({} per node × {}); this machine has {}",
                                label, gpus * nodes, r.accelerator, gpus, nodes, have));
    }
  }
  if (why.empty()) return std::nullopt;
  std::string all;
  for (const std::string& w : why) all += (all.empty() ? "" : "; ") + w;
  return "this machine can never run the task: " + all;
}

absl::StatusOr<NodeHandle> LocalProvider::StartNode(const Allocation&, const NodeSpec& spec) {
  ASSIGN_OR_RETURN(ProcessHandle process, providers::StartNode(spec));
  return ToNodeHandle(process);
}
NodeProbe LocalProvider::ProbeNode(const std::string& node_dir, const NodeHandle& handle) {
  return providers::ProbeNode(node_dir, ToProcessHandle(handle));
}
std::optional<NodeHandle> LocalProvider::FindNode(const std::string& node_dir) {
  auto process = ReadNodePid(node_dir);
  if (!process) return std::nullopt;
  return ToNodeHandle(*process);
}

void LocalProvider::SignalNode(const std::string&, const NodeHandle& handle, int signal) {
  providers::SignalNode(ToProcessHandle(handle), signal);
}

}  // namespace awan::providers
