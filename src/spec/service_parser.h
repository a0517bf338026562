// The `service:` section of a task file (include/awan/spec/service.h). Internal to src/spec: the
// task parser calls it, then CheckService once the whole task is read.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "awan/spec/task.h"
#include "fields.h"

namespace awan::spec {

// Resolves a local path of the task file (relative to its folder) or records an error; "" then.
using LocalPathFn =
    std::function<std::string(const YAML::Node& node, std::string_view field, const std::string&)>;

// `key` is the `service:` key (where errors about the whole section point).
void WalkService(FieldReader& reader, const YAML::Node& key, const YAML::Node& node,
                 const LocalPathFn& local_path, ServiceSpec& out);

// `fallbacks:` (a list of managed endpoints) under `field`.
void WalkFallbacks(FieldReader& reader, const YAML::Node& node, std::string_view field,
                   const LocalPathFn& local_path, std::vector<FallbackSpec>& out);
nlohmann::ordered_json FallbacksJson(const std::vector<FallbackSpec>& fallbacks);

// What needs the rest of the task: the port the replicas listen on, spot for the on-demand
// fallback. `at` is the `service:` key, for the errors' position.
void CheckService(FieldReader& reader, const YAML::Mark& at, Task& task);

// The section in the task file's own field names, normalised (every default written out): what
// `awan check --json` prints, and, as YAML, what is stored with the service and read back.
nlohmann::ordered_json ServiceJson(const ServiceSpec& service);
void EmitServiceYaml(const ServiceSpec& service, YAML::Emitter& out);

}  // namespace awan::spec
