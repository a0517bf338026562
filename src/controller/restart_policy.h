// Whether a managed job whose code failed is restarted (`resources.job_recovery`, SkyPilot's
// meanings): an exit code listed in recover_on_exit_codes always is, and is not counted; any other
// non-zero code is while fewer than max_restarts_on_errors counted restarts have been made. A job
// without job_recovery, or one being cancelled, never is. Pure; shared by the node runner and the
// recovery after a server restart.
#pragma once

#include <optional>
#include <string>

#include "awan/spec/task.h"
#include "awan/store/records.h"

namespace awan::controller {

struct Restart {
  std::string reason;    // for the job's events: the rule that restarts it ("restart 1 of 3 …")
  bool counted = false;  // against max_restarts_on_errors
};

std::optional<Restart> RestartAfterFailure(const store::JobRecord& job, const spec::Task& task,
                                           int exit_code);

}  // namespace awan::controller
