#include "active_jobs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

namespace awan::controller {
namespace {

// A write that failed for a reason that may pass (a busy or unreachable store) is tried again a
// few times; a refused one (the job is not in the state the write expects) is not.
absl::Status WithRetries(const std::function<absl::Status()>& write) {
  absl::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    s = write();
    if (s.ok() || absl::IsFailedPrecondition(s) || absl::IsNotFound(s) ||
        absl::IsInvalidArgument(s)) {
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
  }
  return s;
}

}  // namespace

ActiveJobs::ActiveJobs(store::Store& store, std::function<int64_t()> now)
    : store_(store), now_(std::move(now)) {}

absl::Status ActiveJobs::Apply(int64_t id, const store::Transition& t) {
  absl::Status s = WithRetries([&] { return store_.ApplyTransition(id, t); });
  if (!s.ok()) {
    spdlog::error("job {}: the store did not take {} → {} ({}): {}", id,
                  store::JobStateName(t.from), store::JobStateName(t.to), t.reason,
                  std::string(s.message()));
    return s;
  }
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return s;
  // The record as the store wrote it (times, placement): transitions are few, passes are many.
  if (auto fresh = store_.GetJob(id); fresh.ok()) {
    it->second.record = std::move(*fresh);
  } else {
    it->second.record.state = t.to;
    it->second.record.reason = t.reason;
    if (t.to == store::JobState::kRecovering) ++it->second.record.recoveries;
    if (t.error_restart) ++it->second.record.restarts_on_errors;
  }
  if (store::IsTerminal(t.to)) ended_.push_back(id);
  return s;
}

void ActiveJobs::Event(int64_t id, const std::string& type, const std::string& message) {
  absl::Status s = WithRetries([&] { return store_.AddEvent({id, Now(), type, message}); });
  if (!s.ok())
    spdlog::error("job {}: the store did not take a {} event ({}): {}", id, type, message,
                  std::string(s.message()));
}

absl::Status ActiveJobs::PutNode(const store::NodeRecord& node) {
  absl::Status s = WithRetries([&] { return store_.PutNode(node); });
  if (!s.ok()) {
    spdlog::error("job {}: the store did not take node {}: {}", node.job_id, node.rank,
                  std::string(s.message()));
  }
  return s;
}

ActiveJob* ActiveJobs::Find(int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

void ActiveJobs::Insert(ActiveJob job) {
  const int64_t id = job.record.id;
  jobs_[id] = std::move(job);
}

void ActiveJobs::Prune() {
  for (int64_t id : ended_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && store::IsTerminal(it->second.record.state)) jobs_.erase(it);
  }
  ended_.clear();
}

void ActiveJobs::PostNew(ActiveJob job) {
  std::lock_guard<std::mutex> lock(mu_);
  inbox_.added.push_back(std::move(job));
}

void ActiveJobs::PostCancel(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  inbox_.cancelled.push_back(id);
}

ActiveJobs::Inbox ActiveJobs::TakeInbox() {
  std::lock_guard<std::mutex> lock(mu_);
  Inbox out = std::move(inbox_);
  inbox_ = {};
  return out;
}

}  // namespace awan::controller
