#include "restart_policy.h"

#include <fmt/format.h>

#include <algorithm>

namespace awan::controller {

std::optional<Restart> RestartAfterFailure(const store::JobRecord& job, const spec::Task& task,
                                           int exit_code) {
  const std::optional<spec::JobRecovery> policy = task.job_recovery();
  if (!policy || job.cancel_requested || exit_code == 0) return std::nullopt;
  const auto& codes = policy->recover_on_exit_codes;
  if (std::find(codes.begin(), codes.end(), exit_code) != codes.end()) {
    return Restart{
        fmt::format("restarting: {} is in recover_on_exit_codes (not counted)", exit_code), false};
  }
  if (job.restarts_on_errors < policy->max_restarts_on_errors) {
    return Restart{fmt::format("restart {} of {} (max_restarts_on_errors)",
                               job.restarts_on_errors + 1, policy->max_restarts_on_errors),
                   true};
  }
  return std::nullopt;
}

}  // namespace awan::controller
