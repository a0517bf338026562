// The `sim` provider: emulated cloud regions. A product feature (try awan, test policies, rehearse
// outages without an account) and the test double for real clouds. It sells what a catalog provider
// sells (in the regions chosen), with capacity per zone per instance type, quota per region, a
// provisioning delay, spot preemptions and injected failures; its "nodes" run the workload as local
// processes, each in its own work dir, so logs and exit codes are real.
// Thread-safe: the controller's loop provisions while API handlers take regions down.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "awan/providers/emulation.h"
#include "awan/providers/provider.h"

namespace awan::providers {

struct SimFailure {
  ErrorKind kind = ErrorKind::kTransient;
  std::string region, zone;  // "" = anywhere
  double probability = 1.0;
};

struct SimConfig {
  std::string name;      // the provider's name, e.g. "aws"
  std::string emulates;  // the catalog provider whose offerings it sells (default: name)
  std::vector<std::string> regions;  // empty = every region the catalog has for it
  int default_capacity = 4;          // nodes per zone (per region when zoneless) per instance type
  std::map<std::string, int>
      capacity;  // "REGION/INSTANCE_TYPE" or "REGION/ZONE/INSTANCE_TYPE" → nodes
  std::map<std::string, int> quota;  // region → nodes held at once
  int64_t delay_min_ms = 100, delay_max_ms = 500;
  double spot_preemptions_per_hour = 0;  // per allocation
  std::vector<SimFailure> failures;
  uint64_t seed = 1;
};

class SimProvider final : public Provider, public Emulation {
 public:
  // Copies `config.emulates`'s offerings from `source` (which must be finalized).
  SimProvider(SimConfig config, const catalog::Catalog& source);

  const std::string& name() const override { return config_.name; }
  std::string_view kind() const override { return "sim"; }
  void AddOfferings(catalog::Catalog& catalog) const override;
  ProvisionResult Provision(int64_t job_id, const Offer& offer, int64_t now) override;
  absl::StatusOr<NodeHandle> StartNode(const Allocation& allocation, const NodeSpec& spec) override;
  NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle) override;
  void SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) override;
  std::optional<NodeHandle> FindNode(const std::string& node_dir) override;
  void Release(const std::string& allocation_id) override;
  void Readopt(const Allocation& allocation, const Offer& offer) override;
  bool QuickCalls() const override { return true; }  // in-process books; nodes are local processes
  bool SharesServerFilesystem() const override { return true; }
  bool ChoosesDisks() const override { return true; }
  std::string ReachableHost(const std::string&) const override { return "127.0.0.1"; }

  // Spot preemptions (by rate, or by Preempt) as events.
  std::vector<NodeEvent> TakeEvents(int64_t now) override;
  std::string Describe() const override;
  Emulation* emulation() override { return this; }

  // Emulation controls (emulation.h).
  void SetOutage(const std::string& region, int64_t until) override;
  void Restore(const std::string& region) override;
  bool InOutage(const std::string& region, int64_t now) const override;
  bool Preempt(const std::string& host) override;
  std::vector<Usage> Books() const override;
  // Allocations preempted since the last call (by Preempt or by the spot preemption rate).
  std::vector<std::string> TakePreempted(int64_t now);
  int NodesHeld() const;
  const SimConfig& config() const { return config_; }
  size_t offering_count() const { return offerings_.size(); }

 private:
  struct SimOffering {
    std::string region, zone, instance_type, accelerator;
    int accelerator_count = 0;
    double vcpus = 0, memory_gib = 0, price = 0, spot_price = 0;
    double network_gbps = 0;
  };
  struct Held {
    std::string region, zone, instance_type;
    int nodes = 0;
    bool spot = false;
    std::vector<std::string> hosts;
    int64_t checked_at = 0;  // last preemption draw
  };
  int CapacityFor(const std::string& region, const std::string& zone,
                  const std::string& type) const;

  const SimConfig config_;
  std::vector<SimOffering> offerings_;

  mutable std::mutex mu_;
  std::map<std::string, Held> held_;  // guarded by mu_: allocation id → what it holds
  std::map<std::string, int> used_;   // guarded by mu_: "region/zone/type" → nodes
  std::map<std::string, int64_t>
      outages_;  // guarded by mu_: region ("" = all) → until (0 = open-ended)
  std::vector<std::string> preempted_;                        // guarded by mu_
  std::vector<std::pair<std::string, std::string>> outaged_;  // (allocation, why); guarded by mu_
  std::mt19937_64 rng_;                                       // guarded by mu_
  int64_t next_id_ = 1;                                       // guarded by mu_
};

}  // namespace awan::providers
