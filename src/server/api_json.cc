#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "awan/common/json_dump.h"
#include "awan/server/api.h"

namespace awan::server {

std::string IsoTime(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string JobJson(const store::JobRecord& job) {
  using J = nlohmann::ordered_json;
  auto time = [](int64_t ms) { return ms > 0 ? J(IsoTime(ms)) : J(nullptr); };
  J j;
  j["id"] = job.id;
  j["name"] = job.name;
  j["state"] = store::JobStateName(job.state);
  j["exit_code"] = job.exit_code ? J(*job.exit_code) : J(nullptr);
  J placement;
  placement["provider"] = job.provider.empty() ? J(nullptr) : J(job.provider);
  placement["region"] = job.region.empty() ? J(nullptr) : J(job.region);
  placement["zone"] = job.zone.empty() ? J(nullptr) : J(job.zone);
  placement["instance_type"] = job.instance_type.empty() ? J(nullptr) : J(job.instance_type);
  placement["num_nodes"] = job.num_nodes;
  j["placement"] = placement;
  j["submitted_at"] = time(job.submitted_at);
  j["started_at"] = time(job.started_at);
  j["ended_at"] = time(job.ended_at);
  j["reason"] = job.reason;
  j["cancel_requested"] = job.cancel_requested;
  j["source"] = job.task_source;
  j["recoveries"] = job.recoveries;
  j["restarts_on_errors"] = job.restarts_on_errors;
  return DumpJson(j);
}

std::string ServerJson(const ServerView& server) {
  using J = nlohmann::ordered_json;
  J gpus = J::array();
  for (const auto& g : server.gpus) gpus.push_back({{"index", g.index}, {"name", g.name}});
  J j{{"url", server.url},
      {"pid", server.pid},
      {"store", server.store},
      {"home", server.home},
      {"version", server.version},
      {"machine",
       {{"hostname", server.hostname},
        {"cpus", server.cpus},
        {"memory_gib", server.memory_gib},
        {"gpus", gpus}}}};
  j["scheduler"] = J::parse(SchedulerJson(server.scheduler));
  return DumpJson(j);
}

std::string SchedulerJson(const std::optional<SchedulerView>& scheduler) {
  using J = nlohmann::ordered_json;
  if (!scheduler) return "null";
  return DumpJson(J{{"policy", scheduler->policy},
                    {"fleet", scheduler->fleet},
                    {"queued", scheduler->queued},
                    {"running", scheduler->running},
                    {"accelerators_in_use", scheduler->accelerators_in_use},
                    {"accelerators_total", scheduler->accelerators_total}});
}

std::string SimBooksJson(const std::vector<SimBookRow>& books) {
  using J = nlohmann::ordered_json;
  J out = J::array();
  for (const SimBookRow& b : books) {
    out.push_back({{"provider", b.provider},
                   {"region", b.region},
                   {"zone", b.zone.empty() ? J(nullptr) : J(b.zone)},
                   {"instance_type", b.instance_type},
                   {"used", b.used},
                   {"capacity", b.capacity}});
  }
  return DumpJson(out);
}

std::string SimPreemptJson(const SimAnswer& a) {
  return DumpJson(nlohmann::ordered_json{{"provider", a.provider}, {"node", a.node}});
}
std::string SimOutageJson(const SimAnswer& a) {
  return DumpJson(
      nlohmann::ordered_json{{"provider", a.provider}, {"region", a.region}, {"until", a.until}});
}
std::string SimRestoreJson(const SimAnswer& a) {
  return DumpJson(nlohmann::ordered_json{{"provider", a.provider}, {"region", a.region}});
}

std::string OptimizeJson(const OptimizeView& result) {
  using J = nlohmann::ordered_json;
  J list = J::array();
  for (const PlacementView& p : result.candidates) {
    list.push_back({{"provider", p.provider},
                    {"region", p.region},
                    {"zone", p.zone.empty() ? J(nullptr) : J(p.zone)},
                    {"instance_type", p.instance_type},
                    {"accelerator", p.accelerator.empty() ? J(nullptr) : J(p.accelerator)},
                    {"accelerator_count", p.accelerator_count},
                    {"num_nodes", p.num_nodes},
                    {"spot", p.spot},
                    {"hourly_cost", p.hourly_cost}});
  }
  J out;
  out["chosen"] = list.empty() ? J(nullptr) : list[0];
  out["candidates"] = list;
  out["feasible"] = result.feasible;
  if (list.empty()) out["infeasible_reason"] = result.infeasible_reason;
  return DumpJson(out);
}

std::string ServiceJson(const controller::ServiceView& s) {
  using J = nlohmann::ordered_json;
  J replicas = J::array();
  for (const controller::ReplicaView& r : s.replicas) {
    replicas.push_back({{"id", r.id},
                        {"version", r.version},
                        {"provider", r.provider.empty() ? J(nullptr) : J(r.provider)},
                        {"region", r.region.empty() ? J(nullptr) : J(r.region)},
                        {"zone", r.zone.empty() ? J(nullptr) : J(r.zone)},
                        {"state", r.state},
                        {"ready", r.ready},
                        {"host", r.host.empty() ? J(nullptr) : J(r.host)},
                        {"port", r.port},
                        {"draining", r.draining},
                        {"spot", r.spot},
                        {"qps", std::round(r.qps * 100) / 100},
                        {"in_flight", r.in_flight}});
  }
  J j{{"id", s.record.id},
      {"name", s.record.name},
      {"status", s.status},
      {"endpoint", s.endpoint},
      {"policy", s.policy},
      {"version", s.record.version},
      {"update_mode", s.record.update_mode.empty() ? J(nullptr) : J(s.record.update_mode)},
      {"desired_replicas", s.desired},
      {"readiness_path", s.readiness_path},
      {"source", s.record.task_source},
      {"created_at", s.record.created_at > 0 ? J(IsoTime(s.record.created_at)) : J(nullptr)},
      {"reason", s.record.reason},
      {"qps", std::round(s.qps * 100) / 100},
      {"in_flight", s.in_flight},
      {"tokens_in_flight", s.tokens_in_flight},
      {"waiting", std::round(s.waiting * 100) / 100},
      {"autoscale_signals", s.autoscale_signals},
      {"auth", s.api_key ? "api_key" : "none"},
      {"api_key_sha256", s.key_hashes},
      {"tls", s.tls_certfile.empty() ? J(nullptr)
                                     : J{{"certfile", s.tls_certfile}, {"keyfile", s.tls_keyfile}}},
      {"replicas", replicas}};
  if (!s.fallbacks.empty()) {
    J fallbacks = J::array();
    for (const spec::FallbackSpec& f : s.fallbacks) {
      fallbacks.push_back(J{{"kind", f.kind},
                            {"name", f.name},
                            {"base_url", f.base_url},
                            {"model", f.model},
                            {"deployment", f.deployment},
                            {"region", f.region},
                            {"project", f.project},
                            {"credentials_file", f.credentials_file},
                            {"api_version", f.api_version},
                            {"api_key_env", f.api_key_env},
                            {"api_key_file", f.api_key_file},
                            {"ca_file", f.ca_file},
                            {"timeout_seconds", f.timeout_s},
                            {"cooldown_seconds", f.cooldown_s}});
    }
    j["fallbacks"] = fallbacks;
  }
  return DumpJson(j);
}

std::string GatewaySyncJson(const std::string& gateway,
                            const std::vector<controller::RouteLoad>& routes) {
  using J = nlohmann::ordered_json;
  J list = J::array();
  for (const controller::RouteLoad& r : routes) {
    J replicas = J::array();
    for (const auto& rep : r.replicas) {
      replicas.push_back(
          {{"id", rep.id}, {"requests_total", rep.requests_total}, {"in_flight", rep.in_flight}});
    }
    list.push_back({{"name", r.name},
                    {"requests_total", r.requests_total},
                    {"in_flight", r.in_flight},
                    {"tokens_in_flight", r.tokens_in_flight},
                    {"waiting", r.waiting},
                    {"request_seconds_total", r.request_seconds_total},
                    {"token_seconds_total", r.token_seconds_total},
                    {"waiting_seconds_total", r.waiting_seconds_total},
                    {"tokens_routed_total", r.tokens_routed_total},
                    {"replicas", replicas}});
  }
  return DumpJson(J{{"gateway", gateway}, {"routes", list}});
}

std::string ServiceListJson(const std::vector<controller::ServiceView>& services) {
  std::string out = "{\"services\":[";
  for (size_t i = 0; i < services.size(); ++i) out += (i ? "," : "") + ServiceJson(services[i]);
  return out + "]}";
}

namespace {

using Json = nlohmann::json;

// Reading a field of the expected type, or a clear error: the CLI never reads fields by string.
template <typename T>
T Get(const Json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) {
    throw std::invalid_argument(fmt::format("no \"{}\"", name));
  }
  try {
    return j.at(name).get<T>();
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("\"{}\" is not of the expected type", name));
  }
}

std::string OptionalString(const Json& j, const char* name) {
  if (!j.contains(name) || j.at(name).is_null()) return "";
  return Get<std::string>(j, name);
}

JobView JobFrom(const Json& j) {
  JobView v;
  v.id = Get<int64_t>(j, "id");
  v.name = Get<std::string>(j, "name");
  v.state = Get<std::string>(j, "state");
  if (j.contains("exit_code") && !j.at("exit_code").is_null())
    v.exit_code = Get<int>(j, "exit_code");
  const Json& p = j.at("placement");
  v.provider = OptionalString(p, "provider");
  v.region = OptionalString(p, "region");
  v.zone = OptionalString(p, "zone");
  v.instance_type = OptionalString(p, "instance_type");
  v.num_nodes = Get<int>(p, "num_nodes");
  v.submitted_at = OptionalString(j, "submitted_at");
  v.started_at = OptionalString(j, "started_at");
  v.ended_at = OptionalString(j, "ended_at");
  v.reason = Get<std::string>(j, "reason");
  v.source = OptionalString(j, "source");
  v.cancel_requested = Get<bool>(j, "cancel_requested");
  if (j.contains("recoveries")) v.recoveries = Get<int>(j, "recoveries");
  if (j.contains("restarts_on_errors")) v.restarts_on_errors = Get<int>(j, "restarts_on_errors");
  if (j.contains("nodes")) {
    for (const Json& n : j.at("nodes")) {
      v.nodes.push_back(
          {Get<int>(n, "rank"), Get<std::string>(n, "provider"), Get<std::string>(n, "host")});
    }
  }
  return v;
}

controller::ServiceView ServiceFrom(const Json& j) {
  controller::ServiceView v;
  v.record.id = Get<int64_t>(j, "id");
  v.record.name = Get<std::string>(j, "name");
  v.status = Get<std::string>(j, "status");
  v.endpoint = Get<std::string>(j, "endpoint");
  if (const size_t colon = v.endpoint.rfind(':'); colon != std::string::npos) {
    v.record.port = std::atoi(v.endpoint.c_str() + colon + 1);
  }
  v.policy = Get<std::string>(j, "policy");
  v.record.version = Get<int>(j, "version");
  v.record.update_mode = OptionalString(j, "update_mode");
  v.desired = Get<int>(j, "desired_replicas");
  v.readiness_path = Get<std::string>(j, "readiness_path");
  v.record.task_source = Get<std::string>(j, "source");
  v.record.reason = Get<std::string>(j, "reason");
  v.qps = Get<double>(j, "qps");
  v.in_flight = Get<int>(j, "in_flight");
  if (j.contains("tokens_in_flight")) v.tokens_in_flight = Get<int64_t>(j, "tokens_in_flight");
  if (j.contains("waiting")) v.waiting = Get<double>(j, "waiting");
  if (j.contains("autoscale_signals")) {
    v.autoscale_signals = Get<std::vector<std::string>>(j, "autoscale_signals");
  }
  v.api_key = Get<std::string>(j, "auth") == "api_key";
  v.key_hashes = Get<std::vector<std::string>>(j, "api_key_sha256");
  if (j.contains("tls") && !j.at("tls").is_null()) {
    v.tls_certfile = Get<std::string>(j.at("tls"), "certfile");
    v.tls_keyfile = Get<std::string>(j.at("tls"), "keyfile");
  }
  if (j.contains("fallbacks")) {
    for (const Json& f : j.at("fallbacks")) {
      spec::FallbackSpec fb;
      fb.kind = Get<std::string>(f, "kind");
      fb.name = Get<std::string>(f, "name");
      fb.base_url = Get<std::string>(f, "base_url");
      fb.model = Get<std::string>(f, "model");
      fb.deployment = Get<std::string>(f, "deployment");
      fb.region = f.contains("region") ? Get<std::string>(f, "region") : "";
      fb.project = f.contains("project") ? Get<std::string>(f, "project") : "";
      fb.credentials_file =
          f.contains("credentials_file") ? Get<std::string>(f, "credentials_file") : "";
      fb.api_version = Get<std::string>(f, "api_version");
      fb.api_key_env = Get<std::string>(f, "api_key_env");
      fb.api_key_file = Get<std::string>(f, "api_key_file");
      fb.ca_file = Get<std::string>(f, "ca_file");
      fb.timeout_s = Get<double>(f, "timeout_seconds");
      fb.cooldown_s = Get<double>(f, "cooldown_seconds");
      v.fallbacks.push_back(fb);
    }
  }
  for (const Json& r : j.at("replicas")) {
    controller::ReplicaView rv;
    rv.id = Get<int64_t>(r, "id");
    rv.version = Get<int>(r, "version");
    rv.provider = OptionalString(r, "provider");
    rv.region = OptionalString(r, "region");
    rv.zone = OptionalString(r, "zone");
    rv.state = Get<std::string>(r, "state");
    rv.ready = Get<bool>(r, "ready");
    rv.host = OptionalString(r, "host");
    rv.port = Get<int>(r, "port");
    rv.draining = Get<bool>(r, "draining");
    rv.spot = r.contains("spot") && Get<bool>(r, "spot");
    rv.qps = Get<double>(r, "qps");
    rv.in_flight = Get<int>(r, "in_flight");
    v.replicas.push_back(std::move(rv));
  }
  return v;
}

template <typename F>
auto Decode(std::string_view text, const char* what, F&& read)
    -> absl::StatusOr<decltype(read(Json()))> {
  try {
    return read(Json::parse(text));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("the server's answer is not {}: {}", what, e.what()));
  }
}

}  // namespace

absl::StatusOr<JobView> DecodeJob(std::string_view json) {
  return Decode(json, "a job object", [](const Json& j) { return JobFrom(j); });
}

absl::StatusOr<controller::ServiceView> DecodeService(std::string_view json) {
  return Decode(json, "a service object", [](const Json& j) { return ServiceFrom(j); });
}

absl::StatusOr<std::pair<std::string, std::vector<controller::RouteLoad>>> DecodeGatewaySync(
    std::string_view json) {
  return Decode(json, "a gateway's counters", [](const Json& j) {
    std::vector<controller::RouteLoad> routes;
    for (const Json& r : j.at("routes")) {
      controller::RouteLoad load;
      load.name = Get<std::string>(r, "name");
      load.requests_total = Get<uint64_t>(r, "requests_total");
      load.in_flight = Get<int>(r, "in_flight");
      // Added with issue 12's token-aware autoscaling: a gateway from before sends neither.
      if (r.contains("tokens_in_flight"))
        load.tokens_in_flight = Get<int64_t>(r, "tokens_in_flight");
      if (r.contains("waiting")) load.waiting = Get<double>(r, "waiting");
      for (auto [field, into] : {std::pair{"request_seconds_total", &load.request_seconds_total},
                                 std::pair{"token_seconds_total", &load.token_seconds_total},
                                 std::pair{"waiting_seconds_total", &load.waiting_seconds_total},
                                 std::pair{"tokens_routed_total", &load.tokens_routed_total}}) {
        if (r.contains(field)) *into = Get<double>(r, field);
      }
      for (const Json& rep : r.at("replicas")) {
        load.replicas.push_back({Get<std::string>(rep, "id"), Get<uint64_t>(rep, "requests_total"),
                                 Get<int>(rep, "in_flight")});
      }
      routes.push_back(std::move(load));
    }
    return std::make_pair(Get<std::string>(j, "gateway"), std::move(routes));
  });
}

absl::StatusOr<std::vector<controller::ServiceView>> DecodeServiceList(std::string_view json) {
  return Decode(json, "a list of services", [](const Json& j) {
    std::vector<controller::ServiceView> out;
    for (const Json& s : j.at("services")) out.push_back(ServiceFrom(s));
    return out;
  });
}

absl::StatusOr<std::vector<JobView>> DecodeJobList(std::string_view json) {
  return Decode(json, "a list of jobs", [](const Json& j) {
    std::vector<JobView> out;
    for (const Json& job : j.at("jobs")) out.push_back(JobFrom(job));
    return out;
  });
}

absl::StatusOr<std::vector<EventView>> DecodeEvents(std::string_view json) {
  return Decode(json, "a list of events", [](const Json& j) {
    std::vector<EventView> out;
    for (const Json& e : j) {
      out.push_back({Get<std::string>(e, "time"), Get<std::string>(e, "type"),
                     Get<std::string>(e, "message")});
    }
    return out;
  });
}

absl::StatusOr<ServerView> DecodeServer(std::string_view json) {
  return Decode(json, "the server's description", [](const Json& j) {
    ServerView v;
    v.url = Get<std::string>(j, "url");
    v.pid = Get<int64_t>(j, "pid");
    v.store = Get<std::string>(j, "store");
    v.home = Get<std::string>(j, "home");
    v.version = Get<std::string>(j, "version");
    const Json& m = j.at("machine");
    v.hostname = Get<std::string>(m, "hostname");
    v.cpus = Get<int>(m, "cpus");
    v.memory_gib = Get<double>(m, "memory_gib");
    for (const Json& g : m.at("gpus"))
      v.gpus.push_back({Get<int>(g, "index"), Get<std::string>(g, "name")});
    if (j.contains("scheduler") && !j.at("scheduler").is_null()) {
      const Json& s = j.at("scheduler");
      v.scheduler = SchedulerView{Get<std::string>(s, "policy"),
                                  Get<std::string>(s, "fleet"),
                                  Get<int64_t>(s, "queued"),
                                  Get<int64_t>(s, "running"),
                                  Get<int64_t>(s, "accelerators_in_use"),
                                  Get<int64_t>(s, "accelerators_total")};
    }
    return v;
  });
}

absl::StatusOr<std::vector<SimBookRow>> DecodeSimBooks(std::string_view json) {
  return Decode(json, "the emulated providers' books", [](const Json& j) {
    if (!j.is_array()) throw std::invalid_argument("not a list");
    std::vector<SimBookRow> out;
    for (const Json& b : j) {
      out.push_back({Get<std::string>(b, "provider"), Get<std::string>(b, "region"),
                     OptionalString(b, "zone"), Get<std::string>(b, "instance_type"),
                     Get<int64_t>(b, "used"), Get<int64_t>(b, "capacity")});
    }
    return out;
  });
}

absl::StatusOr<SimAnswer> DecodeSimAnswer(std::string_view json) {
  return Decode(json, "an emulation control's answer", [](const Json& j) {
    SimAnswer a;
    a.provider = Get<std::string>(j, "provider");
    a.node = OptionalString(j, "node");
    a.region = OptionalString(j, "region");
    if (j.contains("until")) a.until = Get<int64_t>(j, "until");
    return a;
  });
}

absl::StatusOr<OptimizeView> DecodeOptimize(std::string_view json) {
  return Decode(json, "a ranking of placements", [](const Json& j) {
    OptimizeView v;
    for (const Json& p : j.at("candidates")) {
      v.candidates.push_back({Get<std::string>(p, "provider"), Get<std::string>(p, "region"),
                              OptionalString(p, "zone"), Get<std::string>(p, "instance_type"),
                              OptionalString(p, "accelerator"), Get<int>(p, "accelerator_count"),
                              Get<int>(p, "num_nodes"), Get<bool>(p, "spot"),
                              Get<double>(p, "hourly_cost")});
    }
    v.feasible = Get<bool>(j, "feasible");
    v.infeasible_reason = OptionalString(j, "infeasible_reason");
    return v;
  });
}

std::optional<std::string> DecodeErrorMessage(std::string_view json) {
  try {
    return Json::parse(json).at("error").at("message").get<std::string>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace awan::server
