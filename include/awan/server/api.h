// JSON shapes of the REST API (docs/api.md), shared by the server that writes them and the CLI that
// reads them. Field names here are a contract: `awan status --json` prints these objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/store/records.h"

namespace awan::server {

inline constexpr const char* kApiVersion = "v1";
inline constexpr const char* kAwanVersion = "0.1.0";

// {"id", "name", "state", "exit_code", "placement": {"provider", "region", "zone", "instance_type",
//  "num_nodes"}, "submitted_at", "started_at", "ended_at", "reason", "cancel_requested"}
// Times are ISO 8601 UTC strings, null until they happen; zone/exit_code null when unknown.
std::string JobJson(const store::JobRecord& job);

// "2026-11-22T12:00:00.123Z"
std::string IsoTime(int64_t ms_since_epoch);

// The job object as a client reads it back (GET /v1/jobs/{id}, the list, launch and cancel
// answers). Times as sent ("" for null); `nodes` only from GET /v1/jobs/{id}.
struct JobView {
  int64_t id = 0;
  std::string name, state;
  std::optional<int> exit_code;
  std::string provider, region, zone, instance_type;  // "" until placed
  int num_nodes = 1;
  std::string submitted_at, started_at, ended_at, reason, source;
  bool cancel_requested = false;
  struct Node {
    int rank = 0;
    std::string provider, host;
  };
  std::vector<Node> nodes;
};
struct EventView {
  std::string time, type, message;
};

// Each: InvalidArgument saying what is missing or of the wrong type when the text is not that
// shape.
absl::StatusOr<JobView> DecodeJob(std::string_view json);
absl::StatusOr<std::vector<JobView>> DecodeJobList(std::string_view json);  // {"jobs": [...]}
absl::StatusOr<std::vector<EventView>> DecodeEvents(std::string_view json);
// The message of an error answer ({"error": {"message"}}), or nullopt when the body is not one.
std::optional<std::string> DecodeErrorMessage(std::string_view json);

}  // namespace awan::server
