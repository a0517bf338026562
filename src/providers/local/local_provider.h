// The local machine as a Provider: it sells one offering per GPU count it can give (and a CPU-only
// one) at no cost. Whether a job fits right now is the controller's business (it queues rather than
// failing over away from free capacity). Internal to src/providers.
#pragma once

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
  void Release(const std::string&) override {}

 private:
  std::string name_ = "local";
  LocalResources machine_;
};

// A price the optimizer treats as "sold" (0 means "not offered") and shows as 0.00: the machine is
// free.
inline constexpr double kLocalPrice = 1e-9;

}  // namespace awan::providers
