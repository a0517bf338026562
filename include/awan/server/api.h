// JSON shapes of the REST API (docs/api.md), shared by the server that writes them and the CLI that
// reads them. Field names here are a contract: `awan status --json` prints these objects.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace awan::server
