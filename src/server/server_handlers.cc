// GET /v1/health, /v1/server, /v1/providers, /v1/catalog; POST /v1/optimize.
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/optimizer/optimizer.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "handlers.h"
#include "request_body.h"

namespace awan::server {
namespace {

using J = nlohmann::ordered_json;

HttpResponse Health(const ApiContext&, const Call&) {
  return JsonResponse(200, DumpJson(J{{"status", "ok"}, {"version", kAwanVersion}}));
}

HttpResponse ServerInfo(const ApiContext& api, const Call&) {
  const providers::LocalResources& machine = api.controller.machine();
  J gpus = J::array();
  for (const auto& g : machine.gpus) gpus.push_back({{"index", g.index}, {"name", g.name}});
  J j{{"url", api.url()},
      {"pid", static_cast<int64_t>(getpid())},
      {"store", api.store.Describe()},
      {"home", api.options.home},
      {"version", kAwanVersion},
      {"machine",
       {{"hostname", machine.hostname},
        {"cpus", machine.cpus},
        {"memory_gib", machine.memory_gib},
        {"gpus", gpus}}}};
  const controller::SchedulerSummary sched = api.controller.scheduler_summary();
  j["scheduler"] = sched.enabled ? J{{"policy", sched.policy},
                                     {"fleet", sched.fleet_file},
                                     {"queued", sched.queued},
                                     {"running", sched.running},
                                     {"accelerators_in_use", sched.accelerators_in_use},
                                     {"accelerators_total", sched.accelerators_total}}
                                 : J(nullptr);
  return JsonResponse(200, DumpJson(j));
}

HttpResponse Providers(const ApiContext& api, const Call&) {
  J out = J::array();
  if (api.fleet != nullptr) {
    for (const auto& p : api.fleet->providers) {
      out.push_back({{"name", p->name()}, {"kind", p->kind()}});
    }
  }
  return JsonResponse(200, DumpJson(out));
}

HttpResponse Catalog(const ApiContext& api, const Call& call) {
  const auto& query = call.target.query;
  const std::string accelerator = query.count("accelerator") ? query.at("accelerator") : "";
  const std::string provider = query.count("provider") ? query.at("provider") : "";
  const catalog::Catalog& c = api.catalog;
  J out = J::array();
  for (const auto& o : c.offerings()) {
    if (!accelerator.empty() && !EqualsIgnoreCase(c.Name(o.accelerator), accelerator)) continue;
    if (!provider.empty() && c.Name(o.provider) != provider) continue;
    out.push_back({{"provider", c.Name(o.provider)},
                   {"region", c.Name(o.region)},
                   {"zone", o.zone == catalog::kNoSymbol ? J(nullptr) : J(c.Name(o.zone))},
                   {"instance_type", c.Name(o.instance_type)},
                   {"accelerator",
                    o.accelerator == catalog::kNoSymbol ? J(nullptr) : J(c.Name(o.accelerator))},
                   {"accelerator_count", o.accelerator_count},
                   {"vcpus", o.vcpus},
                   {"memory_gib", o.memory_gib},
                   {"price", o.price > 0 ? J(o.price) : J(nullptr)},
                   {"spot_price", o.spot_price > 0 ? J(o.spot_price) : J(nullptr)}});
  }
  return JsonResponse(200, DumpJson(out));
}

HttpResponse Optimize(const ApiContext& api, const Call& call) {
  auto body = RequestBody::Parse(call.request.body);
  if (!body.ok()) return ErrorFrom(body.status());
  if (absl::Status s =
          body->Only({"task_yaml", "source", "base_dir", "objective", "top", "providers"});
      !s.ok()) {
    return ErrorFrom(s);
  }
  auto yaml = body->String("task_yaml");
  auto source = body->String("source");
  auto base_dir = body->String("base_dir");
  auto objective = body->String("objective");
  auto top = body->Number("top", 0, 100000);
  auto providers = body->Strings("providers");
  for (const absl::Status& s : {yaml.status(), source.status(), base_dir.status(),
                                objective.status(), top.status(), providers.status()}) {
    if (!s.ok()) return ErrorFrom(s);
  }
  if (!*yaml) return ErrorResponse(400, "body needs \"task_yaml\"");
  auto task =
      spec::ParseTask(**yaml, source->value_or("<request>"), base_dir->value_or(api.options.home));
  if (!task.ok()) return ErrorFrom(task.status());
  optimizer::OptimizeOptions o;
  if (*objective && **objective != "cost" && **objective != "time") {
    return ErrorResponse(400, "\"objective\" must be \"cost\" or \"time\"");
  }
  if (*objective == "time") o.objective = optimizer::Objective::kTime;
  if (*top) {
    if (**top != static_cast<double>(static_cast<size_t>(**top))) {
      return ErrorResponse(400, "\"top\" must be a whole number");
    }
    o.top = static_cast<size_t>(**top);
  }
  if (*providers) o.providers = **providers;
  auto result = optimizer::Optimize(*task, api.catalog, o);
  if (!result.ok()) return ErrorFrom(result.status());
  J out;
  J list = J::array();
  for (const auto& p : result->candidates) {
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
  out["chosen"] = list.empty() ? J(nullptr) : list[0];
  out["candidates"] = list;
  out["feasible"] = result->feasible;
  if (list.empty()) out["infeasible_reason"] = result->infeasible_reason;
  return JsonResponse(200, DumpJson(out));
}

}  // namespace

void AddServerRoutes(Router& router, const ApiContext& api) {
  const auto bind = [&api](HttpResponse (*f)(const ApiContext&, const Call&)) {
    return [&api, f](const Call& call) { return f(api, call); };
  };
  router.Add("GET", "/v1/health", bind(Health), /*is_public=*/true);
  router.Add("GET", "/v1/server", bind(ServerInfo));
  router.Add("GET", "/v1/providers", bind(Providers));
  router.Add("GET", "/v1/catalog", bind(Catalog));
  router.Add("POST", "/v1/optimize", bind(Optimize));
}

Router MakeRouter(const ApiContext& api) {
  Router router;
  AddServerRoutes(router, api);
  AddJobRoutes(router, api);
  AddSimRoutes(router, api);
  return router;
}

}  // namespace awan::server
