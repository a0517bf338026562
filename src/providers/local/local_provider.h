// The local machine as a Provider: it sells one offering per GPU count it can give (and a CPU-only
// one) at no cost, shared out by CPUs and memory (a task asking for 3 CPUs gets 3 of them). It
// keeps its own books — milli-CPUs, MiB of memory and which GPUs are held — and answers
// capacity_unavailable when a job does not fit next to the running ones; being free and always
// there, a job whose best placement is here waits for room (WaitWhenFull). Thread-safe. Internal
// to src/providers.
#pragma once

#include <map>
#include <mutex>

#include "awan/providers/local.h"
#include "awan/providers/provider.h"

namespace awan::providers {

class LocalProvider final : public Provider {
 public:
  explicit LocalProvider(LocalResources machine);
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "local"; }
  void AddOfferings(catalog::Catalog& catalog) const override;
  ProvisionResult Provision(int64_t job_id, const Offer& offer, int64_t now) override;
  absl::StatusOr<NodeHandle> StartNode(const Allocation& allocation, const NodeSpec& spec) override;
  NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle) override;
  void SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) override;
  std::optional<NodeHandle> FindNode(const std::string& node_dir) override;
  void Release(const std::string& allocation_id) override;
  void Readopt(const Allocation& allocation, const Offer& offer) override;
  bool WaitWhenFull() const override { return true; }
  bool QuickCalls() const override { return true; }
  bool SharesServerFilesystem() const override { return true; }
  std::string ReachableHost(const std::string&) const override { return "127.0.0.1"; }
  std::string Describe() const override { return "this machine"; }
  std::optional<std::string> WhyNever(const spec::Task& task) const override;

 private:
  struct Held {
    int64_t cpu_millis = 0, memory_mib = 0;  // all nodes together
    std::vector<size_t> gpus;                // positions in machine_.gpus
  };
  static int64_t CpuMillis(const Offer& offer) {
    return offer.cpu_millis > 0 ? offer.cpu_millis : 1000;
  }

  const std::string name_ = "local";
  const LocalResources machine_;
  const int64_t total_millis_, total_mib_;

  mutable std::mutex mu_;
  int64_t used_millis_ = 0, used_mib_ = 0;  // guarded by mu_
  std::vector<bool> gpu_used_;              // guarded by mu_
  std::map<std::string, Held> held_;        // guarded by mu_: allocation id → what it holds
  int64_t next_id_ = 1;                     // guarded by mu_
};

// A price the optimizer treats as "sold" (0 means "not offered") and shows as 0.00: the machine is
// free.
inline constexpr double kLocalPrice = 1e-9;

}  // namespace awan::providers
