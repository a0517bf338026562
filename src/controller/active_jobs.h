// The jobs that have not ended, held in memory and written through to the store. The loop reads
// them here instead of reading every active job from the store on every pass; the store stays the
// source of truth for restarts (recovery loads it back). No store write's Status is dropped: a
// failed write is tried again, then logged with the job; the copy here changes only when the store
// took the write, so the two never disagree.
// Threading: loop thread only, except the inbox (PostNew, PostCancel), which any thread may call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "awan/optimizer/optimizer.h"
#include "awan/spec/task.h"
#include "awan/store/store.h"

namespace awan::controller {

struct ActiveJob {
  store::JobRecord record;                 // as last written to the store
  std::shared_ptr<const spec::Task> task;  // parsed once: at admission, or at recovery
  // Every placement of the task over the fleet, best first, blocks not applied: computed the
  // first time the job is placed and kept (a pending job is not optimised again on every pass).
  std::shared_ptr<const optimizer::OptimizeResult> ranking;
  // A service's replica: placements on these providers, or in these "provider/region"s, are tried
  // after all others, so that the service's replicas spread (`service.spread`). In memory only.
  std::vector<std::string> spread_away_from;
};

class ActiveJobs {
 public:
  ActiveJobs(store::Store& store, std::function<int64_t()> now);

  // Applies `t` in the store, then to the copy here. A job that reaches a terminal state stays
  // here until the end of the loop's pass (Prune).
  absl::Status Apply(int64_t id, const store::Transition& t);
  // An event in the job's history; a failed write is logged.
  void Event(int64_t id, const std::string& type, const std::string& message);
  absl::Status PutNode(const store::NodeRecord& node);

  ActiveJob* Find(int64_t id);
  void Insert(ActiveJob job);
  // Drops the jobs that ended (their nodes, if any, are the node runner's business now).
  void Prune();
  store::Store& store() { return store_; }
  int64_t Now() const { return now_(); }

  // From any thread: a job was stored PENDING; a cancel was recorded in the store.
  void PostNew(ActiveJob job);
  void PostCancel(int64_t id);
  struct Inbox {
    std::vector<ActiveJob> added;
    std::vector<int64_t> cancelled;
  };
  Inbox TakeInbox();

 private:
  store::Store& store_;
  std::function<int64_t()> now_;
  std::map<int64_t, ActiveJob> jobs_;  // by id: oldest first
  std::vector<int64_t> ended_;

  std::mutex mu_;
  Inbox inbox_;  // guarded by mu_
};

}  // namespace awan::controller
