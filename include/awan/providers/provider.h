// The provider interface: one place awan can run nodes (this machine, an emulated cloud, a Slurm
// cluster, SSH hosts). Each backend lives in its own folder under src/providers/ and registers a
// factory by kind name (registry.h); adding one touches its folder and one registration line.
//
// Contract: Provision is all or nothing — it returns an Allocation holding every node asked for, or
// a typed ProviderError and holds nothing. Release is idempotent. Implementations are called from
// the controller's loop thread only, except where a method says otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/providers/local.h"

namespace awan::catalog {
class Catalog;
}

namespace awan::providers {

// Typed provisioning errors. Failover reacts to the kind (failover.h): capacity and quota block the
// zone or region for a while, provider_down and auth_failed block the provider, transient is
// retried, invalid_request stops with the provider's message.
enum class ErrorKind {
  kCapacityUnavailable,
  kQuotaExceeded,
  kAuthFailed,
  kInvalidRequest,
  kTransient,
  kProviderDown,
};
std::string_view ErrorKindName(ErrorKind kind);  // "capacity_unavailable", ...
std::optional<ErrorKind> ParseErrorKind(std::string_view name);

// How much an error rules out, when the provider knows better than the kind's default (a region
// outage reported as provider_down blocks the region, not the provider).
enum class ErrorScope { kDefault, kZone, kRegion, kProvider };

struct ProviderError {
  ErrorKind kind = ErrorKind::kTransient;
  std::string message;
  ErrorScope scope = ErrorScope::kDefault;
};

// What the optimizer chose, as the provider is asked for it.
struct Offer {
  std::string region, zone, instance_type, accelerator;
  int accelerator_count = 0;  // per node
  bool spot = false;
  int num_nodes = 1;
};

// Nodes held for one job.
struct Allocation {
  std::string id;  // the provider's id for it, unique per provider
  std::string region, zone, instance_type;
  std::vector<std::string> hosts;  // one per node, rank order
  int64_t ready_at = 0;            // ms since epoch: usable from then (provisioning delay)
};

using ProvisionResult = std::variant<Allocation, ProviderError>;

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const std::string& name() const = 0;
  virtual std::string_view kind() const = 0;
  // Adds what it sells to the optimizer's catalog, under its own name.
  virtual void AddOfferings(catalog::Catalog& catalog) const = 0;
  // All or nothing (see above). `now` is the controller's clock.
  virtual ProvisionResult Provision(int64_t job_id, const Offer& offer, int64_t now) = 0;
  // Starts one node's workload on a provisioned allocation.
  virtual absl::StatusOr<NodeHandle> StartNode(const Allocation& allocation,
                                               const NodeSpec& spec) = 0;
  virtual NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle) = 0;
  virtual void SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) = 0;
  // Gives the nodes back; unknown or already released ids are ignored.
  virtual void Release(const std::string& allocation_id) = 0;
  // Checks that the provider can be used (hosts reachable, credentials accepted); OK by default.
  // Called by `awan check-config` and at server start; may take a few seconds.
  virtual absl::Status Check() { return absl::OkStatus(); }
  // After a server restart: books an allocation that is still in use again (no-op by default).
  virtual void Readopt(const std::string& allocation_id, const Offer& offer) {
    (void)allocation_id;
    (void)offer;
  }
};

}  // namespace awan::providers
