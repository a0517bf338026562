// GET /v1/health, /v1/server, /v1/providers, /v1/catalog; POST /v1/optimize.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

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
  ServerView v;
  v.url = api.url();
  v.pid = static_cast<int64_t>(getpid());
  v.store = api.store.Describe();
  v.home = api.options.home;
  v.version = kAwanVersion;
  v.hostname = machine.hostname;
  v.cpus = machine.cpus;
  v.memory_gib = machine.memory_gib;
  for (const auto& g : machine.gpus) v.gpus.push_back({g.index, g.name});
  if (const controller::SchedulerSummary s = api.controller.scheduler_summary(); s.enabled) {
    v.scheduler = SchedulerView{s.policy,
                                s.fleet_file,
                                static_cast<int64_t>(s.queued),
                                static_cast<int64_t>(s.running),
                                s.accelerators_in_use,
                                s.accelerators_total};
  }
  return JsonResponse(200, ServerJson(v));
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
  if (*providers) {
    o.providers = **providers;
  } else {
    // What the server would place it on: the fleet's providers that can never run it (a disk
    // tier, buckets) are left out of the catalog's.
    std::vector<std::string> why;
    const std::vector<std::string> never = api.controller.ProvidersThatNever(*task, why);
    if (!never.empty()) {
      std::set<std::string> names;
      for (const catalog::Offering& offering : api.catalog.offerings()) {
        names.insert(std::string(api.catalog.Name(offering.provider)));
      }
      for (const std::string& name : names) {
        if (std::find(never.begin(), never.end(), name) == never.end()) {
          o.providers.push_back(name);
        }
      }
      if (o.providers.empty()) {
        OptimizeView none;
        none.infeasible_reason =
            fmt::format("no provider of the fleet can run it: {}", JoinLimited(why, why.size()));
        return JsonResponse(200, OptimizeJson(none));
      }
    }
  }
  auto result = optimizer::Optimize(*task, api.catalog, o);
  if (!result.ok()) return ErrorFrom(result.status());
  OptimizeView out;
  for (const auto& p : result->candidates) {
    out.candidates.push_back({p.provider, p.region, p.zone, p.instance_type, p.accelerator,
                              p.accelerator_count, p.num_nodes, p.spot, p.hourly_cost});
  }
  out.feasible = result->feasible;
  out.infeasible_reason = result->infeasible_reason;
  return JsonResponse(200, OptimizeJson(out));
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
  AddServiceRoutes(router, api);
  AddSimRoutes(router, api);
  AddStorageRoutes(router, api);
  return router;
}

}  // namespace awan::server
