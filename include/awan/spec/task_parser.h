// Reads task YAML (a SkyPilot-compatible subset, docs/task-spec.md) into a normalised Task.
// Every error names the file, line, column and field, and says how to fix it; all errors found in a
// file are reported together, one per line. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/spec/task.h"

namespace awan::spec {

// Reads and parses a task file. Relative paths in it are resolved against `base_dir`, by default
// the current directory (where SkyPilot resolves them: the folder the command runs in).
absl::StatusOr<Task> LoadTaskFile(const std::string& path, const std::string& base_dir = "");

// Parses YAML text; `source_name` is used in error messages and `base_dir` resolves relative paths.
absl::StatusOr<Task> ParseTask(std::string_view yaml, std::string_view source_name,
                               const std::string& base_dir);

// The normalised task, as YAML (what `awan check` prints) and as JSON (`awan check --json`).
std::string TaskToYaml(const Task& task);
std::string TaskToJson(const Task& task);

// A service's task file as one of its replicas runs it: the `service:` section dropped, and the
// replica's env added — AWAN_REPLICA_PORT (the port it must listen on: replicas of the local and
// emulated providers share this machine, so each gets its own) and AWAN_SERVICE_NAME. A replica
// is then an ordinary job to everything downstream. `on_demand`: every `use_spot` of its resources
// (any_of / ordered entries too) set to false — a spot service's on-demand fallback replica.
absl::StatusOr<std::string> ReplicaTaskYaml(std::string_view service_yaml,
                                            std::string_view service_name, int port,
                                            bool on_demand = false);

// The task file with `secrets` given at launch (`awan launch --secret`) set in its `secrets:`
// section (added or replacing the file's values). The result is stored with the job (never shown).
absl::StatusOr<std::string> WithSecrets(
    std::string_view task_yaml, const std::vector<std::pair<std::string, std::string>>& secrets);

// A gateway's fallbacks file (`awan gateway --fallbacks FILE`): `fallbacks:` and a list of managed
// endpoints, as a service's `service.fallbacks` (docs/llm.md); paths relative to its folder.
absl::StatusOr<std::vector<FallbackSpec>> LoadFallbacksFile(const std::string& path);

// "H100:8", "tpu-v6e-8", or "-" for CPU-only.
std::string AcceleratorLabel(const Resources& r);

}  // namespace awan::spec
