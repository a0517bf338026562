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
#include "awan/providers/node.h"

namespace awan::catalog {
class Catalog;
}
namespace awan::spec {
struct Task;
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

// What happened to a provider's nodes, as it reports it (TakeEvents): the controller treats every
// kind the same way — the job's nodes are stopped and released and it is queued again.
struct NodeEvent {
  enum class Kind { kPreempted, kLost, kOutage, kEvicted };
  Kind kind = Kind::kPreempted;
  std::string allocation;  // the allocation it hit
  std::string detail;      // for the job's events
};
std::string_view NodeEventName(NodeEvent::Kind kind);  // "preempted", "lost", "outage", "evicted"

class Emulation;

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
  // What the task asks of each node (0: the provider's default); a machine shared out by CPUs and
  // memory (the local one) books exactly this. Integers: milli-CPUs and MiB.
  int64_t cpu_millis = 0;
  int64_t memory_mib = 0;
};

// Nodes held for one job.
struct Allocation {
  std::string id;  // the provider's id for it, unique per provider
  std::string region, zone, instance_type;
  std::vector<std::string> hosts;  // one per node, rank order
  int64_t ready_at = 0;            // ms since epoch: usable from then (provisioning delay)
  // Per node, the accelerator indices it may use (CUDA_VISIBLE_DEVICES); empty: 0..count-1, as on
  // a cloud node that holds its accelerators alone.
  std::vector<std::vector<int>> devices;
  // Per node, the address the other nodes reach it at (AWAN_NODE_IPS); empty: the hosts.
  std::vector<std::string> addresses;
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
  // A node started just before the server went down, before its handle was stored: its handle
  // from what the node left behind (its folder), or nullopt when it cannot tell. None by default.
  virtual std::optional<NodeHandle> FindNode(const std::string& node_dir) {
    (void)node_dir;
    return std::nullopt;
  }
  // Gives the nodes back; unknown or already released ids are ignored.
  virtual void Release(const std::string& allocation_id) = 0;
  // Checks that the provider can be used (hosts reachable, credentials accepted); OK by default.
  // Called by `awan check-config` and at server start; may take a few seconds.
  virtual absl::Status Check() { return absl::OkStatus(); }
  // After a server restart: books an allocation that is still in use again (no-op by default).
  // `allocation` has the id, hosts and devices the nodes were started with. Must answer at once
  // (books in memory): it is called on the controller's loop.
  virtual void Readopt(const Allocation& allocation, const Offer& offer) {
    (void)allocation;
    (void)offer;
  }
  // Whether its calls answer at once (in-process books, no network, no external command): the
  // controller then makes them on its loop thread. Others (ssh, slurm, a real cloud API) are called
  // from worker threads, so a slow or hanging one delays nothing else.
  virtual bool QuickCalls() const { return false; }
  // What happened to its nodes since the last call: spot preemptions, nodes lost, outages,
  // evictions. Called every pass for a provider with QuickCalls, else from a worker about once a
  // second. None by default.
  virtual std::vector<NodeEvent> TakeEvents(int64_t now) {
    (void)now;
    return {};
  }
  // A line for `awan check-config` ("emulated aws, 4 nodes per zone …"); the kind by default.
  virtual std::string Describe() const { return std::string(kind()); }
  // The emulation controls, for an emulated provider; nullptr for real ones.
  virtual Emulation* emulation() { return nullptr; }
  // Owned capacity that costs nothing (the local machine): a job whose best placement is here waits
  // for room when it is full, rather than failing over to capacity that is paid for.
  virtual bool WaitWhenFull() const { return false; }
  // Why it cannot start a node from `image_id` ("docker:IMAGE" or a cloud image), or nullopt when
  // it can. None can yet: a task with an image is refused with each provider's reason.
  virtual std::optional<std::string> WhyNotImage(const std::string& image_id) const;
  // Whether it chooses its nodes' disks (a cloud's disk types): a task asking for a `disk_tier`
  // runs only on such providers. The emulated clouds do (an emulated disk has no speed to give).
  virtual bool ChoosesDisks() const { return false; }
  // Whether its nodes are processes of this machine, sharing its filesystem (local, emulated
  // clouds): a bucket in the local store reaches them as a folder (docs/storage.md).
  virtual bool SharesServerFilesystem() const { return false; }
  // Where a node's network services are reached from this machine: its host's name, or loopback
  // for providers whose nodes are processes of this machine (local, emulated clouds).
  virtual std::string ReachableHost(const std::string& node_host) const { return node_host; }
  // Why this provider can never run `task` (a sentence), when it can tell; shown when no provider
  // of the fleet can.
  virtual std::optional<std::string> WhyNever(const spec::Task& task) const {
    (void)task;
    return std::nullopt;
  }
};

}  // namespace awan::providers
