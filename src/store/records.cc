#include "awan/store/records.h"

#include <array>

namespace awan::store {
namespace {

constexpr std::array<std::string_view, 8> kNames = {"PENDING",   "PROVISIONING", "RUNNING",
                                                    "SUCCEEDED", "FAILED",       "CANCELLED",
                                                    "PREEMPTED", "RECOVERING"};

constexpr std::array<std::string_view, 4> kServiceNames = {"ACTIVE", "SHUTTING_DOWN", "DOWN",
                                                           "FAILED"};

}  // namespace

std::string_view ServiceStateName(ServiceState state) {
  return kServiceNames[static_cast<size_t>(state)];
}

std::optional<ServiceState> ParseServiceState(std::string_view name) {
  for (size_t i = 0; i < kServiceNames.size(); ++i) {
    if (kServiceNames[i] == name) return static_cast<ServiceState>(i);
  }
  return std::nullopt;
}

std::string_view JobStateName(JobState state) { return kNames[static_cast<size_t>(state)]; }

std::optional<JobState> ParseJobState(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

bool IsAllowedTransition(JobState from, JobState to) {
  using S = JobState;
  if (IsTerminal(from)) return false;
  // Any live job can fail or be cancelled.
  if (to == S::kFailed || to == S::kCancelled) return true;
  switch (from) {
    case S::kPending:
      return to == S::kProvisioning;
    case S::kProvisioning:
      return to == S::kRunning || to == S::kPending;  // back to the queue if a start never happened
    case S::kRunning:
      return to == S::kSucceeded || to == S::kPreempted || to == S::kRecovering;
    case S::kPreempted:
      return to == S::kRecovering;
    case S::kRecovering:
      return to == S::kProvisioning || to == S::kPending;
    default:
      return false;
  }
}

}  // namespace awan::store
