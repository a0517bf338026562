// The `ssh` provider: a pool of hosts reached over SSH (host, port, user, key). Hosts with the same
// shape (accelerator, count, CPUs, memory) are one offering; a job takes whole hosts, all or
// nothing, after a health check of each. A node runs the same wrapper as local nodes, started with
// setsid in its own remote folder; its exit code is a file there, its output a remote log that each
// probe copies into the job's local log. Cancel kills the remote process group. Connections are
// reused through OpenSSH's ControlMaster. Thread-safe (the pool is locked; the ssh client does the
// rest).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "awan/providers/provider.h"

namespace awan::providers {

struct SshHost {
  std::string host;
  int port = 22;
  std::string user;
  std::string key;  // private key file
  std::string accelerator;
  int accelerator_count = 0;
  double cpus = 0, memory_gib = 0;
  double price = 0;           // USD per hour; 0 = owned hardware (ranked as free)
  std::string Label() const;  // "user@host:port"
};

struct SshConfig {
  std::string name;
  std::string region;  // what the offerings' region is called (default: the provider's name)
  std::vector<SshHost> hosts;
  std::string remote_root = "/tmp/awan-remote";  // node folders on the hosts
  int connect_timeout_s = 5;
  // A host that stays unreachable this long while it runs a node is lost: its node is reported
  // (TakeEvents) and the job is queued again, on hosts that answer.
  int node_lost_after_s = 60;
};

class SshProvider final : public Provider {
 public:
  explicit SshProvider(SshConfig config);
  const std::string& name() const override { return config_.name; }
  std::string_view kind() const override { return "ssh"; }
  void AddOfferings(catalog::Catalog& catalog) const override;
  ProvisionResult Provision(int64_t job_id, const Offer& offer, int64_t now) override;
  absl::StatusOr<NodeHandle> StartNode(const Allocation& allocation, const NodeSpec& spec) override;
  NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle) override;
  void SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) override;
  void Release(const std::string& allocation_id) override;
  void Readopt(const Allocation& allocation, const Offer& offer) override;
  absl::Status Check() override;
  // Nodes on hosts unreachable past node_lost_after_s, as `lost` events.
  std::vector<NodeEvent> TakeEvents(int64_t now) override;

  // The offering name of a host's shape, e.g. "ssh-H100x8" or "ssh-cpu16".
  static std::string InstanceType(const SshHost& host);

 private:
  struct Result {
    int code = -1;
    std::string out, err;
  };
  // Runs `remote` on `host` (a shell command line there); `input` goes to its stdin.
  Result Ssh(const SshHost& host, const std::string& remote, const std::string& input = "") const;
  // ok, or why the host cannot be used: auth_failed or provider_down (unreachable).
  std::optional<ProviderError> Health(const SshHost& host) const;
  const SshHost* FindHost(const std::string& label) const;

  const SshConfig config_;
  mutable std::mutex mu_;
  std::vector<std::string>
      held_by_;          // guarded by mu_: per host, the allocation holding it ("" = free)
  int64_t next_id_ = 1;  // guarded by mu_
  // Per host label: since when probes of its nodes fail (ms), and whether it was declared lost
  // (skipped by provisioning until it answers a health check again). Guarded by mu_.
  std::map<std::string, int64_t> unreachable_since_;
  std::set<std::string> lost_;
  std::map<std::string, int64_t> rechecked_at_;  // guarded by mu_: a lost host's last health check
};

}  // namespace awan::providers
