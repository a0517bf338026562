#include "service_parser.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/common/text.h"

namespace awan::spec {
namespace {

const std::vector<std::string> kServiceFields = {"readiness_probe",
                                                 "replicas",
                                                 "replica_policy",
                                                 "load_balancing_policy",
                                                 "ports",
                                                 "spread",
                                                 "tls",
                                                 "auth",
                                                 "fallbacks"};
const std::set<std::string> kSkyPilotServiceOnly = {"load_balancer", "pool", "workers"};
const std::vector<std::string> kProbeFields = {"path", "post_data", "initial_delay_seconds",
                                               "timeout_seconds", "headers"};
const std::set<std::string> kSkyPilotProbeOnly = {"endpoint_probe_interval_seconds",
                                                  "consecutive_failure_threshold_timeout"};
const std::vector<std::string> kPolicyFields = {"min_replicas",
                                                "max_replicas",
                                                "target_qps_per_replica",
                                                "target_in_flight_per_replica",
                                                "target_tokens_in_flight_per_replica",
                                                "target_waiting_per_replica",
                                                "target_tokens_per_second_per_replica",
                                                "upscale_delay_seconds",
                                                "downscale_delay_seconds",
                                                "num_overprovision",
                                                "base_ondemand_fallback_replicas",
                                                "dynamic_ondemand_fallback"};
const std::set<std::string> kSkyPilotPolicyOnly = {"spot_placer"};
const std::vector<std::string> kSpreadFields = {"providers", "regions"};
const std::vector<std::string> kTlsFields = {"keyfile", "certfile"};
const std::vector<std::string> kFallbackFields = {"kind",
                                                  "name",
                                                  "base_url",
                                                  "model",
                                                  "deployment",
                                                  "api_version",
                                                  "api_key_env",
                                                  "api_key_file",
                                                  "ca_file",
                                                  "timeout_seconds",
                                                  "cooldown_seconds",
                                                  "region",
                                                  "project",
                                                  "credentials_file"};

// A YAML value as JSON: mappings and lists kept, scalars as numbers or booleans when they read as
// such, else strings.
nlohmann::ordered_json ToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (auto it = node.begin(); it != node.end(); ++it) j[it->first.Scalar()] = ToJson(it->second);
    return j;
  }
  if (node.IsSequence()) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const YAML::Node& item : node) j.push_back(ToJson(item));
    return j;
  }
  if (node.IsNull()) return nullptr;
  const std::string& text = node.Scalar();
  if (node.Tag() != "!") {  // not quoted
    if (auto v = ParseNumber(text)) {
      if (*v == std::floor(*v) && std::abs(*v) < 9e15) return static_cast<int64_t>(*v);
      return *v;
    }
    const std::string lower = ToLower(text);
    if (lower == "true" || lower == "false") return lower == "true";
  }
  return text;
}

void WalkProbe(FieldReader& r, const YAML::Node& node, ReadinessProbe& out) {
  const std::string field = "service.readiness_probe";
  if (node.IsScalar()) {
    out.path = node.Scalar();
  } else if (node.IsMap()) {
    bool has_path = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const YAML::Node value = it->second;
      const std::string f = field + "." + key;
      if (key == "path") {
        if (auto s = r.String(value, f)) out.path = *s;
        has_path = true;
      } else if (key == "post_data") {
        if (value.IsMap() || value.IsScalar()) {
          out.post_data = value.IsMap() ? DumpJson(ToJson(value)) : value.Scalar();
        } else {
          r.Error(value, f, "must be a string or a mapping (sent as JSON)");
        }
      } else if (key == "initial_delay_seconds") {
        if (auto v = r.NumberIn(value, f, 0, kMaxProbeDelayS, "seconds")) out.initial_delay_s = *v;
      } else if (key == "timeout_seconds") {
        auto v = r.NumberIn(value, f, 0.001, kMaxProbeTimeoutS, "seconds");
        if (v) out.timeout_s = *v;
      } else if (key == "headers") {
        if (!value.IsMap()) {
          r.Error(value, f, "must be a mapping of header: value");
          continue;
        }
        for (auto h = value.begin(); h != value.end(); ++h) {
          if (auto s = r.String(h->second, f + "." + h->first.Scalar())) {
            out.headers.emplace_back(h->first.Scalar(), *s);
          }
        }
      } else {
        r.UnknownField(it->first, field, key, kProbeFields, kSkyPilotProbeOnly);
      }
    }
    if (!has_path) r.Error(node, field, "needs `path`, e.g. {path: /health}");
  } else {
    r.Error(node, field, "must be a path (/health) or a mapping with `path`");
    return;
  }
  if (out.path.empty() || out.path.front() != '/') {
    r.Error(node, field + ".path", fmt::format("'{}' must start with /", out.path));
  }
}

void WalkPolicy(FieldReader& r, const YAML::Node& node, ReplicaPolicy& out) {
  const std::string field = "service.replica_policy";
  if (!node.IsMap()) {
    r.Error(node, field,
            "must be a mapping, e.g. {min_replicas: 2, max_replicas: 10, target_qps_per_replica: "
            "2.5}");
    return;
  }
  bool has_min = false, has_max = false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;
    const std::string f = field + "." + key;
    const auto count = [&](int& into) {
      if (auto v = r.WholeNumber(value, f, 0, kMaxReplicas)) into = static_cast<int>(*v);
    };
    if (key == "min_replicas") {
      count(out.min_replicas);
      has_min = true;
    } else if (key == "max_replicas") {
      count(out.max_replicas);
      has_max = true;
    } else if (key == "target_qps_per_replica") {
      if (value.IsMap()) {
        r.Error(value, f,
                "targets per accelerator type are not supported yet; give one number of "
                "requests per second");
      } else if (auto v = r.NumberIn(value, f, 0.001, 1e9, "requests per second")) {
        out.target_qps_per_replica = *v;
      }
    } else if (key == "target_in_flight_per_replica") {
      if (auto v = r.NumberIn(value, f, 0.001, 1e9, "requests under way per replica")) {
        out.target_in_flight_per_replica = *v;
      }
    } else if (key == "target_tokens_in_flight_per_replica") {
      if (auto v = r.NumberIn(value, f, 1, 1e12, "tokens under way per replica")) {
        out.target_tokens_in_flight_per_replica = *v;
      }
    } else if (key == "target_tokens_per_second_per_replica") {
      if (auto v = r.NumberIn(value, f, 1, 1e12, "tokens per second per replica")) {
        out.target_tokens_per_second_per_replica = *v;
      }
    } else if (key == "target_waiting_per_replica") {
      if (auto v = r.NumberIn(value, f, 0.001, 1e9, "requests queued per replica")) {
        out.target_waiting_per_replica = *v;
      }
    } else if (key == "upscale_delay_seconds") {
      if (auto v = r.NumberIn(value, f, 0, kMaxScaleDelayS, "seconds")) out.upscale_delay_s = *v;
    } else if (key == "downscale_delay_seconds") {
      if (auto v = r.NumberIn(value, f, 0, kMaxScaleDelayS, "seconds")) out.downscale_delay_s = *v;
    } else if (key == "num_overprovision") {
      count(out.num_overprovision);
    } else if (key == "base_ondemand_fallback_replicas") {
      count(out.base_ondemand_fallback_replicas);
    } else if (key == "dynamic_ondemand_fallback") {
      if (auto b = r.Bool(value, f)) out.dynamic_ondemand_fallback = *b;
    } else {
      r.UnknownField(it->first, field, key, kPolicyFields, kSkyPilotPolicyOnly);
    }
  }
  if (!has_min) {
    r.Error(node, field, "needs `min_replicas`");
    return;
  }
  if (!has_max) out.max_replicas = out.min_replicas;
  if (out.max_replicas < out.min_replicas) {
    r.Error(node, field,
            fmt::format("max_replicas ({}) is less than min_replicas ({})", out.max_replicas,
                        out.min_replicas));
  } else if (out.autoscales() && !out.has_target()) {
    r.Error(node, field,
            "scaling between min_replicas and max_replicas needs target_qps_per_replica (requests "
            "per second each replica should take), target_in_flight_per_replica, "
            "target_tokens_in_flight_per_replica, target_tokens_per_second_per_replica or "
            "target_waiting_per_replica");
  } else if (!out.autoscales() && out.has_target()) {
    const char* which = out.target_qps_per_replica         ? "target_qps_per_replica"
                        : out.target_in_flight_per_replica ? "target_in_flight_per_replica"
                        : out.target_tokens_in_flight_per_replica
                            ? "target_tokens_in_flight_per_replica"
                        : out.target_waiting_per_replica ? "target_waiting_per_replica"
                                                         : "target_tokens_per_second_per_replica";
    r.Error(node, field,
            fmt::format("{} scales between min_replicas and max_replicas: give a max_replicas "
                        "larger than min_replicas",
                        which));
  }
  if (out.base_ondemand_fallback_replicas > out.max_replicas) {
    r.Error(node, field + ".base_ondemand_fallback_replicas",
            fmt::format("{} is more than max_replicas ({})", out.base_ondemand_fallback_replicas,
                        out.max_replicas));
  }
}

void WalkSpread(FieldReader& r, const YAML::Node& node, Spread& out) {
  const std::string field = "service.spread";
  if (!node.IsMap()) {
    r.Error(node, field, "must be a mapping, e.g. {providers: 2, regions: 2}");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const std::string f = field + "." + key;
    if (key == "providers") {
      if (auto v = r.WholeNumber(it->second, f, 1, 100)) out.providers = static_cast<int>(*v);
    } else if (key == "regions") {
      if (auto v = r.WholeNumber(it->second, f, 1, 1000)) out.regions = static_cast<int>(*v);
    } else {
      r.UnknownField(it->first, field, key, kSpreadFields, {});
    }
  }
}

void WalkTls(FieldReader& r, const YAML::Node& node, const LocalPathFn& local_path,
             std::optional<TlsFiles>& out) {
  const std::string field = "service.tls";
  if (!node.IsMap()) {
    r.Error(node, field, "must be a mapping {keyfile: PATH, certfile: PATH}");
    return;
  }
  TlsFiles tls;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const std::string f = field + "." + key;
    if (key == "keyfile" || key == "certfile") {
      auto s = r.String(it->second, f);
      if (!s) continue;
      const std::string path = local_path(it->second, f, *s);
      (key == "keyfile" ? tls.keyfile : tls.certfile) = path;
    } else {
      r.UnknownField(it->first, field, key, kTlsFields, {});
    }
  }
  if (tls.keyfile.empty() || tls.certfile.empty()) {
    r.Error(node, field, "needs both `keyfile` and `certfile` (PEM files)");
    return;
  }
  out = tls;
}

}  // namespace

void WalkFallbacks(FieldReader& r, const YAML::Node& node, std::string_view field,
                   const LocalPathFn& local_path, std::vector<FallbackSpec>& out) {
  if (!node.IsSequence()) {
    r.Error(node, field,
            "must be a list of managed endpoints, e.g. [{kind: openai, base_url: "
            "https://api.openai.com/v1, model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}]");
    return;
  }
  const auto& kinds = FallbackKinds();
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node e = node[i];
    const std::string at = fmt::format("{}[{}]", field, i);
    if (!e.IsMap()) {
      r.Error(e, at, "must be a mapping {kind, base_url, ...}");
      continue;
    }
    FallbackSpec fb;
    bool ok = true;
    for (auto it = e.begin(); it != e.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string f = at + "." + key;
      if (key == "timeout_seconds" || key == "cooldown_seconds") {
        if (auto v =
                r.NumberIn(it->second, f, key == "timeout_seconds" ? 0.001 : 0, 3600, "seconds")) {
          (key == "timeout_seconds" ? fb.timeout_s : fb.cooldown_s) = *v;
        } else {
          ok = false;
        }
        continue;
      }
      if (key == "api_key") {
        r.Error(it->first, f,
                "a key is never written in the task file: name the variable that holds it "
                "(api_key_env: OPENAI_API_KEY) or a file (api_key_file: PATH)");
        ok = false;
        continue;
      }
      if (std::find(kFallbackFields.begin(), kFallbackFields.end(), key) == kFallbackFields.end()) {
        r.UnknownField(it->first, at, key, kFallbackFields, {});
        ok = false;
        continue;
      }
      auto v = r.String(it->second, f);
      if (!v) {
        ok = false;
        continue;
      }
      if (key == "kind") {
        fb.kind = ToLower(*v);
        if (std::find(kinds.begin(), kinds.end(), fb.kind) == kinds.end()) {
          r.Error(
              it->second, f,
              fmt::format("'{}' is not one of: {}{}", *v, JoinLimited(kinds, kinds.size()), ""));
          ok = false;
        }
      } else if (key == "region") {
        fb.region = *v;
      } else if (key == "project") {
        fb.project = *v;
      } else if (key == "base_url") {
        if (!v->starts_with("http://") && !v->starts_with("https://")) {
          r.Error(it->second, f, fmt::format("'{}' must be an http:// or https:// URL", *v));
          ok = false;
        }
        fb.base_url = *v;
      } else if (key == "api_key_file" || key == "ca_file" || key == "credentials_file") {
        const std::string path = local_path(it->second, f, *v);
        if (path.empty()) ok = false;
        (key == "api_key_file" ? fb.api_key_file
         : key == "ca_file"    ? fb.ca_file
                               : fb.credentials_file) = path;
      } else {
        std::string* dest = key == "name"          ? &fb.name
                            : key == "model"       ? &fb.model
                            : key == "deployment"  ? &fb.deployment
                            : key == "api_version" ? &fb.api_version
                                                   : &fb.api_key_env;
        *dest = *v;
      }
    }
    if (!ok) continue;
    if (fb.kind == "bedrock" && (fb.region.empty() || fb.model.empty())) {
      r.Error(e, at,
              "a bedrock endpoint needs `region` and `model` (a model id, e.g. "
              "anthropic.claude-3-haiku-20240307-v1:0)");
      continue;
    }
    if (fb.kind == "vertex" && (fb.region.empty() || fb.model.empty() || fb.project.empty())) {
      r.Error(e, at,
              "a vertex endpoint needs `project`, `region` and `model` (e.g. gemini-2.0-flash)");
      continue;
    }
    if (fb.kind.empty() || (fb.base_url.empty() && fb.kind != "bedrock" && fb.kind != "vertex")) {
      r.Error(e, at, "needs `kind` (openai, azure_openai, bedrock, vertex) and `base_url`");
      continue;
    }
    if (fb.kind == "azure_openai" && (fb.deployment.empty() || fb.api_version.empty())) {
      r.Error(e, at,
              "an azure_openai endpoint needs `deployment` and `api_version` (e.g. 2024-10-21)");
      continue;
    }
    if (!fb.api_key_env.empty() && !fb.api_key_file.empty()) {
      r.Error(e, at, "give one of `api_key_env` and `api_key_file`, not both");
      continue;
    }
    if (fb.kind == "azure_openai" && fb.api_key_env.empty() && fb.api_key_file.empty()) {
      r.Error(e, at, "an azure_openai endpoint needs its key: `api_key_env` or `api_key_file`");
      continue;
    }
    if (fb.name.empty()) fb.name = fb.kind;
    int same = 0;
    for (const FallbackSpec& other : out) {
      if (other.name == fb.name || other.name.rfind(fb.name + "-", 0) == 0) ++same;
    }
    if (same > 0) fb.name += "-" + std::to_string(same + 1);
    out.push_back(fb);
  }
}

void WalkService(FieldReader& r, const YAML::Node& key_node, const YAML::Node& node,
                 const LocalPathFn& local_path, ServiceSpec& out) {
  if (!node.IsMap()) {
    r.Error(key_node, "service",
            "must be a mapping, e.g. {readiness_probe: /health, replicas: 2}; see "
            "docs/services.md");
    return;
  }
  bool has_probe = false;
  YAML::Node replicas(YAML::NodeType::Undefined), policy(YAML::NodeType::Undefined);
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;
    const std::string f = "service." + key;
    if (key == "readiness_probe") {
      WalkProbe(r, value, out.readiness_probe);
      has_probe = true;
    } else if (key == "replicas") {
      replicas = value;
      if (auto v = r.WholeNumber(value, f, 0, kMaxReplicas)) {
        out.replica_policy.min_replicas = out.replica_policy.max_replicas = static_cast<int>(*v);
      }
    } else if (key == "replica_policy") {
      policy = value;
      WalkPolicy(r, value, out.replica_policy);
    } else if (key == "load_balancing_policy") {
      auto s = r.String(value, f);
      if (!s) continue;
      const std::string name = ToLower(*s);
      const auto& known = LoadBalancingPolicies();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        r.Error(value, f,
                fmt::format("unknown policy '{}'{}; policies: {}", *s, DidYouMean(name, known),
                            JoinLimited(known, known.size())));
      } else {
        out.load_balancing_policy = name;
      }
    } else if (key == "ports") {
      if (auto v = r.WholeNumber(value, f, 1, 65535)) out.port = static_cast<int>(*v);
    } else if (key == "spread") {
      WalkSpread(r, value, out.spread);
    } else if (key == "tls") {
      WalkTls(r, value, local_path, out.tls);
    } else if (key == "fallbacks") {
      WalkFallbacks(r, value, f, local_path, out.fallbacks);
    } else if (key == "auth") {
      if (auto v = r.String(value, f)) {
        if (*v == "api_key" || *v == "none") {
          out.api_key = *v == "api_key";
        } else {
          r.Error(value, f,
                  fmt::format("'{}' is not one of: none, api_key (clients then send "
                              "`Authorization: Bearer KEY`, keys from `awan serve keys create`)",
                              *v));
        }
      }
    } else {
      r.UnknownField(it->first, "service", key, kServiceFields, kSkyPilotServiceOnly);
    }
  }
  if (!has_probe) {
    r.Error(key_node, "service.readiness_probe",
            "is required: the path that answers 200 when a replica is ready, e.g. "
            "readiness_probe: /health");
  }
  if (replicas.IsDefined() && policy.IsDefined()) {
    r.Error(replicas, "service.replicas", "give either `replicas` or `replica_policy`, not both");
  }
}

void CheckService(FieldReader& r, const YAML::Mark& at, Task& task) {
  ServiceSpec& s = *task.service;
  if (!s.port) {
    for (const Resources& res : task.resources) {
      if (!res.ports.empty()) {
        s.port = res.ports.front().first;
        break;
      }
    }
  }
  if (!s.port) {
    r.Error(at, "service.ports",
            "a service needs the port its replicas listen on: give service.ports (e.g. 8080) or "
            "resources.ports");
  }
  const ReplicaPolicy& p = s.replica_policy;
  if (p.base_ondemand_fallback_replicas > 0 || p.dynamic_ondemand_fallback) {
    bool spot = false;
    for (const Resources& res : task.resources) spot = spot || res.use_spot;
    if (!spot) {
      r.Error(at, "service.replica_policy",
              "an on-demand fallback is for spot replicas: set resources.use_spot: true, or drop "
              "base_ondemand_fallback_replicas / dynamic_ondemand_fallback");
    }
  }
  if (s.spread.providers > 1 || s.spread.regions > 1) {
    const int most = std::max(s.spread.providers, s.spread.regions);
    if (p.max_replicas < most) {
      r.Error(at, "service.spread",
              fmt::format("{} replica(s) at most cannot be spread over {} {}", p.max_replicas, most,
                          s.spread.providers >= s.spread.regions ? "providers" : "regions"));
    }
  }
  if (task.num_nodes != 1) {
    r.Error(at, "num_nodes",
            fmt::format("a service's replica is one node; num_nodes is {} (run more replicas "
                        "instead)",
                        task.num_nodes));
  }
}

nlohmann::ordered_json FallbacksJson(const std::vector<FallbackSpec>& fallbacks) {
  using J = nlohmann::ordered_json;
  J list = J::array();
  for (const FallbackSpec& f : fallbacks) {
    J j{{"kind", f.kind}, {"name", f.name}, {"base_url", f.base_url}};
    if (!f.model.empty()) j["model"] = f.model;
    if (!f.deployment.empty()) j["deployment"] = f.deployment;
    if (!f.region.empty()) j["region"] = f.region;
    if (!f.project.empty()) j["project"] = f.project;
    if (!f.credentials_file.empty()) j["credentials_file"] = f.credentials_file;
    if (!f.api_version.empty()) j["api_version"] = f.api_version;
    if (!f.api_key_env.empty()) j["api_key_env"] = f.api_key_env;
    if (!f.api_key_file.empty()) j["api_key_file"] = f.api_key_file;
    if (!f.ca_file.empty()) j["ca_file"] = f.ca_file;
    j["timeout_seconds"] = f.timeout_s;
    j["cooldown_seconds"] = f.cooldown_s;
    list.push_back(j);
  }
  return list;
}

nlohmann::ordered_json ServiceJson(const ServiceSpec& s) {
  using J = nlohmann::ordered_json;
  J probe{{"path", s.readiness_probe.path}};
  if (s.readiness_probe.post_data) probe["post_data"] = *s.readiness_probe.post_data;
  probe["initial_delay_seconds"] = s.readiness_probe.initial_delay_s;
  probe["timeout_seconds"] = s.readiness_probe.timeout_s;
  if (!s.readiness_probe.headers.empty()) {
    J headers = J::object();
    for (const auto& [k, v] : s.readiness_probe.headers) headers[k] = v;
    probe["headers"] = headers;
  }
  const ReplicaPolicy& p = s.replica_policy;
  J policy{{"min_replicas", p.min_replicas}, {"max_replicas", p.max_replicas}};
  if (p.target_qps_per_replica) policy["target_qps_per_replica"] = *p.target_qps_per_replica;
  if (p.target_in_flight_per_replica) {
    policy["target_in_flight_per_replica"] = *p.target_in_flight_per_replica;
  }
  if (p.target_tokens_in_flight_per_replica) {
    policy["target_tokens_in_flight_per_replica"] = *p.target_tokens_in_flight_per_replica;
  }
  if (p.target_waiting_per_replica) {
    policy["target_waiting_per_replica"] = *p.target_waiting_per_replica;
  }
  if (p.target_tokens_per_second_per_replica) {
    policy["target_tokens_per_second_per_replica"] = *p.target_tokens_per_second_per_replica;
  }
  policy["upscale_delay_seconds"] = p.upscale_delay_s;
  policy["downscale_delay_seconds"] = p.downscale_delay_s;
  policy["num_overprovision"] = p.num_overprovision;
  policy["base_ondemand_fallback_replicas"] = p.base_ondemand_fallback_replicas;
  policy["dynamic_ondemand_fallback"] = p.dynamic_ondemand_fallback;
  J j{{"readiness_probe", probe},
      {"replica_policy", policy},
      {"load_balancing_policy", s.load_balancing_policy},
      {"ports", s.port ? J(*s.port) : J(nullptr)},
      {"spread", {{"providers", s.spread.providers}, {"regions", s.spread.regions}}}};
  if (s.tls) j["tls"] = {{"keyfile", s.tls->keyfile}, {"certfile", s.tls->certfile}};
  j["auth"] = s.api_key ? "api_key" : "none";
  if (!s.fallbacks.empty()) j["fallbacks"] = FallbacksJson(s.fallbacks);
  return j;
}

namespace {
void EmitJson(const nlohmann::ordered_json& j, YAML::Emitter& out) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      EmitJson(v, out);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) EmitJson(v, out);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number()) {
    out << j.get<double>();
  } else {
    out << YAML::Null;
  }
}
}  // namespace

void EmitServiceYaml(const ServiceSpec& service, YAML::Emitter& out) {
  EmitJson(ServiceJson(service), out);
}

}  // namespace awan::spec
