// POST|GET /v1/services, GET /v1/services/{name}, /events, POST /v1/services/{name}/update, /down.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/server/api.h"
#include "handlers.h"
#include "request_body.h"

namespace awan::server {
namespace {

using J = nlohmann::ordered_json;

// The service as the replica manager sees it, else as stored (a service that is DOWN, or one the
// loop has not published yet).
absl::StatusOr<controller::ServiceView> View(const ApiContext& api, const std::string& name) {
  for (controller::ServiceView& v : api.controller.Services()) {
    if (v.record.name == name) return std::move(v);
  }
  auto record = api.store.FindService(name);
  if (!record.ok()) return record.status();
  controller::ServiceView v;
  v.record = *record;
  v.status = record->state == store::ServiceState::kActive
                 ? "NO_REPLICA"
                 : std::string(store::ServiceStateName(record->state));
  v.endpoint = fmt::format("http://{}:{}", api.options.gateway_host, record->port);
  return v;
}

// The task file fields of a body: task_yaml (required), source, base_dir, and `extra` ones.
struct TaskBody {
  std::string yaml, source, base_dir;
  std::optional<RequestBody> body;
};
absl::StatusOr<TaskBody> ReadTaskBody(const ApiContext& api, const Call& call,
                                      std::initializer_list<std::string> fields) {
  auto body = RequestBody::Parse(call.request.body);
  if (!body.ok()) return body.status();
  if (absl::Status s = body->Only(fields); !s.ok()) return s;
  auto yaml = body->String("task_yaml");
  auto source = body->String("source");
  auto base_dir = body->String("base_dir");
  for (const absl::Status& s : {yaml.status(), source.status(), base_dir.status()}) {
    if (!s.ok()) return s;
  }
  if (!*yaml) {
    return absl::InvalidArgumentError("body needs \"task_yaml\": the service file's text");
  }
  return TaskBody{**yaml, source->value_or("<request>"), base_dir->value_or(api.options.home),
                  std::move(*body)};
}

HttpResponse Up(const ApiContext& api, const Call& call) {
  auto task = ReadTaskBody(api, call, {"task_yaml", "source", "base_dir", "name"});
  if (!task.ok()) return ErrorFrom(task.status());
  auto name = task->body->String("name");
  if (!name.ok()) return ErrorFrom(name.status());
  auto record =
      api.controller.CreateService(task->yaml, task->source, task->base_dir, name->value_or(""));
  if (!record.ok()) return ErrorFrom(record.status());
  spdlog::info("service {} up from {} on port {}", record->name, task->source, record->port);
  if (api.options.on_service_up) api.options.on_service_up();
  auto view = View(api, record->name);
  if (!view.ok()) return ErrorFrom(view.status());
  return JsonResponse(201, ServiceJson(*view));
}

HttpResponse List(const ApiContext& api, const Call& call) {
  std::vector<controller::ServiceView> views = api.controller.Services();
  if (call.target.query.count("all") != 0 && call.target.query.at("all") != "0") {
    auto all = api.store.ListServices(/*active_only=*/false);
    if (!all.ok()) return ErrorFrom(all.status());
    for (const store::ServiceRecord& r : *all) {
      if (r.state != store::ServiceState::kDown) continue;
      controller::ServiceView v;
      v.record = r;
      v.status = "DOWN";
      v.endpoint = fmt::format("http://{}:{}", api.options.gateway_host, r.port);
      views.push_back(std::move(v));
    }
  }
  return JsonResponse(200, ServiceListJson(views));
}

HttpResponse Get(const ApiContext& api, const Call& call) {
  auto view = View(api, call.params.at("name"));
  if (!view.ok()) return ErrorFrom(view.status());
  return JsonResponse(200, ServiceJson(*view));
}

HttpResponse Events(const ApiContext& api, const Call& call) {
  auto record = api.store.FindService(call.params.at("name"));
  if (!record.ok()) return ErrorFrom(record.status());
  auto events = api.store.ListServiceEvents(record->id);
  if (!events.ok()) return ErrorFrom(events.status());
  J out = J::array();
  for (const auto& e : *events) {
    out.push_back({{"time", IsoTime(e.time)}, {"type", e.type}, {"message", e.message}});
  }
  return JsonResponse(200, DumpJson(out));
}

HttpResponse Update(const ApiContext& api, const Call& call) {
  auto task = ReadTaskBody(api, call, {"task_yaml", "source", "base_dir", "mode"});
  if (!task.ok()) return ErrorFrom(task.status());
  auto mode = task->body->String("mode");
  if (!mode.ok()) return ErrorFrom(mode.status());
  const std::string m = mode->value_or("rolling");
  if (m != "rolling" && m != "blue_green") {
    return ErrorResponse(400, fmt::format("mode '{}' is not one of: rolling, blue_green", m));
  }
  const std::string& name = call.params.at("name");
  auto record = api.controller.UpdateService(
      name, task->yaml, task->source, task->base_dir,
      m == "blue_green" ? controller::UpdateMode::kBlueGreen : controller::UpdateMode::kRolling);
  if (!record.ok()) return ErrorFrom(record.status());
  spdlog::info("service {}: update to version {} ({})", name, record->version, m);
  auto view = View(api, name);
  if (!view.ok()) return ErrorFrom(view.status());
  return JsonResponse(202, ServiceJson(*view));
}

HttpResponse Down(const ApiContext& api, const Call& call) {
  const std::string& name = call.params.at("name");
  auto record = api.controller.DownService(name);
  if (!record.ok()) return ErrorFrom(record.status());
  spdlog::info("service {}: down requested", name);
  auto view = View(api, name);
  if (!view.ok()) return ErrorFrom(view.status());
  return JsonResponse(202, ServiceJson(*view));
}

HttpResponse CreateKey(const ApiContext& api, const Call& call) {
  auto body = RequestBody::Parse(call.request.body.empty() ? "{}" : call.request.body);
  if (!body.ok()) return ErrorFrom(body.status());
  if (absl::Status s = body->Only({"label"}); !s.ok()) return ErrorFrom(s);
  auto label = body->String("label");
  if (!label.ok()) return ErrorFrom(label.status());
  auto key = api.controller.CreateServiceKey(call.params.at("name"), label->value_or(""));
  if (!key.ok()) return ErrorFrom(key.status());
  spdlog::info("service {}: API key {} created", call.params.at("name"), key->first);
  return JsonResponse(
      201, DumpJson(J{{"id", key->first}, {"label", label->value_or("")}, {"key", key->second}}));
}

HttpResponse ListKeys(const ApiContext& api, const Call& call) {
  auto keys = api.controller.ServiceKeys(call.params.at("name"));
  if (!keys.ok()) return ErrorFrom(keys.status());
  J out = J::array();
  for (const store::ServiceKey& k : *keys) {
    out.push_back({{"id", k.id},
                   {"label", k.label},
                   {"created_at", IsoTime(k.created_at)},
                   {"revoked_at", k.revoked_at > 0 ? J(IsoTime(k.revoked_at)) : J(nullptr)}});
  }
  return JsonResponse(200, DumpJson(out));
}

HttpResponse RevokeKey(const ApiContext& api, const Call& call) {
  char* end = nullptr;
  const std::string& text = call.params.at("id");
  const long long id = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || id < 1) {
    return ErrorResponse(400, fmt::format("'{}' is not a key id", text));
  }
  if (absl::Status s = api.controller.RevokeServiceKey(call.params.at("name"), id); !s.ok()) {
    return ErrorFrom(s);
  }
  spdlog::info("service {}: API key {} revoked", call.params.at("name"), id);
  return JsonResponse(200, DumpJson(J{{"id", id}, {"revoked", true}}));
}

// A gateway's poll: its counters in, the services out (one round trip).
HttpResponse GatewaySync(const ApiContext& api, const Call& call) {
  auto sync = DecodeGatewaySync(call.request.body);
  if (!sync.ok()) return ErrorResponse(400, std::string(sync.status().message()));
  api.controller.ReportLoad(sync->first, std::move(sync->second));
  return JsonResponse(200, ServiceListJson(api.controller.Services()));
}

}  // namespace

void AddServiceRoutes(Router& router, const ApiContext& api) {
  const auto bind = [&api](HttpResponse (*f)(const ApiContext&, const Call&)) {
    return [&api, f](const Call& call) { return f(api, call); };
  };
  router.Add("POST", "/v1/services", bind(Up));
  router.Add("GET", "/v1/services", bind(List));
  router.Add("GET", "/v1/services/{name}", bind(Get));
  router.Add("GET", "/v1/services/{name}/events", bind(Events));
  router.Add("POST", "/v1/services/{name}/update", bind(Update));
  router.Add("POST", "/v1/services/{name}/down", bind(Down));
  router.Add("POST", "/v1/gateway/sync", bind(GatewaySync));
  router.Add("POST", "/v1/services/{name}/keys", bind(CreateKey));
  router.Add("GET", "/v1/services/{name}/keys", bind(ListKeys));
  router.Add("POST", "/v1/services/{name}/keys/{id}/revoke", bind(RevokeKey));
}

}  // namespace awan::server
