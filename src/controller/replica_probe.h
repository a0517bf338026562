// A replica's readiness probe (`service.readiness_probe`): one HTTP/1.1 request to the replica,
// GET, or POST with the probe's post_data; ready when it answers 200 within the probe's timeout.
// Blocking: the replica manager runs it on a worker thread.
#pragma once

#include <string>

#include "awan/spec/service.h"

namespace awan::controller {

struct ProbeResult {
  bool ready = false;
  std::string why;  // when not ready: what happened ("connection refused", "answered 503", ...)
};

ProbeResult ProbeReplica(const std::string& host, int port, const spec::ReadinessProbe& probe);

}  // namespace awan::controller
