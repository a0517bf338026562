#include "job_queue.h"

#include <algorithm>

namespace awan::controller {

void ArrivalQueue::Add(ActiveJob& job) {
  pending_.insert(job.record.id);
  changed_ = true;
}

void ArrivalQueue::Cancelled(int64_t id) {
  if (pending_.erase(id) != 0) changed_ = true;
  placer_.Forget(id);
}

void ArrivalQueue::NodesReleased(int64_t id, bool preempted) {
  (void)id;
  (void)preempted;
  changed_ = true;  // room on this machine (or a provider's quota) may let the head start
}

// A walk that went off the loop came back.
void ArrivalQueue::Settled(int64_t id, Placer::Outcome outcome) {
  switch (outcome) {
    case Placer::Outcome::kProvisioned:
    case Placer::Outcome::kFailed:
      pending_.erase(id);
      changed_ = true;  // the jobs behind it may go now
      return;
    case Placer::Outcome::kRetryLater:
      wake_at_ = std::min(wake_at_, placer_.RetryAt(id));
      return;
    default:
      return;  // waiting for room on owned capacity: capacity freed wakes the queue
  }
}

void ArrivalQueue::Pass() {
  if (pending_.empty() || (!changed_ && jobs_.Now() < wake_at_)) return;
  changed_ = false;
  wake_at_ = std::numeric_limits<int64_t>::max();
  for (auto it = pending_.begin(); it != pending_.end();) {
    ActiveJob* job = jobs_.Find(*it);
    if (job == nullptr || job->record.state != store::JobState::kPending) {
      placer_.Forget(*it);
      it = pending_.erase(it);
      continue;
    }
    const int64_t id = *it;
    switch (placer_.PlaceAnywhere(
        *job, [this, id](Placer::Outcome o, const std::string&) { Settled(id, o); })) {
      case Placer::Outcome::kProvisioned:
      case Placer::Outcome::kFailed:
        it = pending_.erase(it);
        continue;
      case Placer::Outcome::kRetryLater:
        wake_at_ = std::min(wake_at_, placer_.RetryAt(*it));
        ++it;
        continue;
      case Placer::Outcome::kInFlight:  // a slow provider is being asked: the others go on
        ++it;
        continue;
      case Placer::Outcome::kWaiting:
        // The head waits for room; a placement skipped after a failure may come back before.
        wake_at_ = std::min(wake_at_, placer_.NextUnblock());
        return;
    }
  }
}

}  // namespace awan::controller
