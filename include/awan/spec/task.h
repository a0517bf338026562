// The task: a workload described once (resources, setup, run), independent of where it runs.
// Plain data; the parser (task_parser.h) produces it in normalised form. See docs/task-spec.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awan/spec/service.h"

namespace awan::spec {

// The ranges the parser accepts (larger is a typo, not a machine); see docs/task-spec.md.
inline constexpr int kMaxAcceleratorsPerNode = 4096;
inline constexpr double kMaxCpus = 100000;               // per node
inline constexpr double kMaxMemoryGib = 1000000;         // per node
inline constexpr double kMaxDurationS = 3650.0 * 86400;  // scheduling.estimated_duration

// "8" (exactly) or "8+" (at least).
struct Quantity {
  double value = 0;
  bool at_least = false;

  bool Admits(double offered) const { return at_least ? offered >= value : offered == value; }
  friend bool operator==(const Quantity&, const Quantity&) = default;
};

struct PortRange {
  int first = 0;
  int last = 0;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// A bucket attached to the job's nodes: a `file_mounts` entry that is a mapping or a bucket URL
// (SkyPilot's storage forms). See docs/storage.md.
enum class StorageMode {
  kMount,        // the bucket itself: writes go to it
  kCopy,         // a copy taken when the node starts (read-only by intent)
  kMountCached,  // the bucket through a local cache, written back
};
std::string_view StorageModeName(StorageMode m);  // "MOUNT", "COPY", "MOUNT_CACHED"
struct StorageMount {
  std::string path;    // where the job sees it (the file_mounts key)
  std::string name;    // the bucket
  std::string store;   // "s3", "gcs", "azure", "r2", "local"; "" = the server's default store
  std::string prefix;  // a folder inside the bucket (from a URL such as s3://bucket/sub)
  std::string source;  // a local folder uploaded into the bucket at the job's first start; ""
  StorageMode mode = StorageMode::kMount;
  bool persistent = true;  // false: the bucket is deleted when the job ends
  int line = 0;
  friend bool operator==(const StorageMount&, const StorageMount&) = default;
};

// `resources.job_recovery` (SkyPilot's meanings): what happens when a managed job's nodes are
// preempted or lost, and when its code fails. See docs/task-spec.md#managed-jobs.
enum class RecoveryStrategy {
  kEagerNextRegion,  // placed again away from the region it lost (SkyPilot's default)
  kFailover,         // the same region first, then the others
};
struct JobRecovery {
  RecoveryStrategy strategy = RecoveryStrategy::kEagerNextRegion;
  int max_restarts_on_errors = 0;  // restarts after a non-zero exit code
  // Exit codes that always restart the job (not counted against max_restarts_on_errors).
  std::vector<int> recover_on_exit_codes;
  friend bool operator==(const JobRecovery&, const JobRecovery&) = default;
};
std::string_view RecoveryStrategyName(RecoveryStrategy s);  // "EAGER_NEXT_REGION", "FAILOVER"

// One resource alternative. Empty strings mean "any". A task has one or more of these.
struct Resources {
  std::string provider;  // `infra: aws/...` or `cloud: aws`
  std::string region;
  std::string zone;
  std::string instance_type;
  std::string accelerator;    // canonical name when known (H100, A100-80GB, tpu-v6e-8); "" = none
  int accelerator_count = 0;  // per node; matches offerings with exactly this many
  std::optional<Quantity> cpus;        // per node
  std::optional<Quantity> memory_gib;  // per node
  bool use_spot = false;
  std::optional<int> disk_size_gib;
  // SkyPilot's `disk_tier` (low, medium, high, ultra, best) and `network_tier` (standard, best):
  // "" = not asked. network_tier best keeps offerings with a high-bandwidth interconnect; a
  // disk tier is honoured by providers that choose their nodes' disks (docs/task-spec.md).
  std::string disk_tier;
  std::string network_tier;
  // `image_id`: "docker:IMAGE" (a container image) or a cloud image id; "" = the provider's own.
  std::string image_id;
  std::vector<PortRange> ports;
  std::optional<double> max_hourly_cost;    // USD per hour for all nodes together
  std::optional<double> accelerator_flops;  // total work of the job in FLOPs (for objective=time)
  // A managed job: recovered after preemption or node loss, restarted after errors as it says.
  // The same for every alternative (the parser checks).
  std::optional<JobRecovery> job_recovery;
  int line = 0;  // 1-based line in the task file this alternative came from (0 if unknown)

  friend bool operator==(const Resources&, const Resources&) = default;
};

enum class ResourceOrder {
  kAnyOf,    // best over all alternatives
  kOrdered,  // first alternative that is feasible, in the user's order
};

// How the fleet scheduler treats the job (`scheduling:`; used when the server runs one, see
// docs/scheduler.md). Ignored by servers without a fleet scheduler.
struct Scheduling {
  std::string team;  // whose quota it uses; "" = no team (no quota: borrows only)
  int priority = 0;  // higher goes first under the priority, fairshare and backfill policies
  bool preemptible = false;  // a higher-priority job may stop it; it is queued again
  std::optional<int64_t> estimated_duration_s;  // lets backfill run it in a hole

  friend bool operator==(const Scheduling&, const Scheduling&) = default;
};

struct Task {
  std::string name;
  std::string workdir;  // absolute path, or "" when none
  // `workdir: {url, ref}`: a git repository cloned for the job (its first start) and checked out at
  // `ref` (a branch, tag or commit; "" = the default branch); the clone is the workdir.
  struct GitWorkdir {
    std::string url, ref;
    friend bool operator==(const GitWorkdir&, const GitWorkdir&) = default;
  };
  std::optional<GitWorkdir> workdir_git;
  int num_nodes = 1;
  std::vector<Resources> resources;  // at least one alternative
  ResourceOrder order = ResourceOrder::kAnyOf;
  // Task env vars in file order. A value of nullopt means "must be given at launch".
  std::vector<std::pair<std::string, std::optional<std::string>>> envs;
  // `secrets`: like envs (nullopt: must be given at launch), but their values are never shown —
  // not in the API, logs, events or `awan check`.
  std::vector<std::pair<std::string, std::optional<std::string>>> secrets;
  std::string setup;
  std::string run;
  std::vector<std::pair<std::string, std::string>> file_mounts;  // remote path -> local path
  std::vector<StorageMount> storage_mounts;                      // buckets (file_mounts too)
  Scheduling scheduling;
  std::optional<ServiceSpec> service;  // a `service:` section: the task is a service
  std::string source;  // the file it was read from ("<string>" when parsed from memory)

  // The task's job_recovery (nullopt: not a managed job).
  std::optional<JobRecovery> job_recovery() const {
    return resources.empty() ? std::nullopt : resources.front().job_recovery;
  }
};

}  // namespace awan::spec
