// The emulation controls of `sim` providers: GET /v1/sim/books, POST /v1/sim/outage, restore,
// preempt.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/providers/emulation.h"
#include "awan/server/api.h"
#include "handlers.h"
#include "request_body.h"

namespace awan::server {
namespace {

using J = nlohmann::ordered_json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse Books(const ApiContext& api, const Call& call) {
  std::vector<SimBookRow> out;
  for (const std::string& name : api.fleet->Names()) {
    const providers::Emulation* sim = api.fleet->FindEmulation(name);
    if (sim == nullptr) continue;
    if (call.target.query.count("provider") && call.target.query.at("provider") != name) continue;
    for (const auto& u : sim->Books()) {
      out.push_back({name, u.region, u.zone, u.instance_type, u.used, u.capacity});
    }
  }
  return JsonResponse(200, SimBooksJson(out));
}

HttpResponse Preempt(const ApiContext& api, const Call& call) {
  auto body = RequestBody::Parse(call.request.body);
  if (!body.ok()) return ErrorFrom(body.status());
  if (absl::Status s = body->Only({"node"}); !s.ok()) return ErrorFrom(s);
  auto node = body->String("node");
  if (!node.ok()) return ErrorFrom(node.status());
  if (!*node)
    return ErrorResponse(400, "body needs \"node\": a node's host name (awan status JOB)");
  for (const std::string& name : api.fleet->Names()) {
    if (providers::Emulation* sim = api.fleet->FindEmulation(name);
        sim != nullptr && sim->Preempt(**node)) {
      spdlog::info("sim: {} preempted {}", name, **node);
      return JsonResponse(202, SimPreemptJson({name, **node, "", 0}));
    }
  }
  return ErrorResponse(404, fmt::format("no emulated node '{}' is running", **node));
}

// POST /v1/sim/outage and /v1/sim/restore: {"provider", "region"?, "for_seconds"? (outage)}.
HttpResponse OutageOrRestore(const ApiContext& api, const Call& call, bool outage) {
  auto body = RequestBody::Parse(call.request.body);
  if (!body.ok()) return ErrorFrom(body.status());
  if (absl::Status s = outage ? body->Only({"provider", "region", "for_seconds"})
                              : body->Only({"provider", "region"});
      !s.ok()) {
    return ErrorFrom(s);
  }
  auto provider = body->String("provider");
  auto region = body->String("region");
  for (const absl::Status& s : {provider.status(), region.status()}) {
    if (!s.ok()) return ErrorFrom(s);
  }
  if (!*provider) return ErrorResponse(400, "body needs \"provider\"");
  providers::Emulation* sim = api.fleet->FindEmulation(**provider);
  if (sim == nullptr) {
    return ErrorResponse(
        404, fmt::format("'{}' is not an emulated (sim) provider of this fleet", **provider));
  }
  const std::string where = region->value_or("");
  if (!outage) {
    sim->Restore(where);
    api.controller.ProviderBack(**provider, where);
    spdlog::info("sim: {}{} restored", **provider, where.empty() ? "" : "/" + where);
    return JsonResponse(202, SimRestoreJson({**provider, "", where, 0}));
  }
  auto seconds = body->Number("for_seconds", 0, 365.0 * 86400);
  if (!seconds.ok() || (*seconds && !(**seconds > 0))) {
    return ErrorResponse(400,
                         "\"for_seconds\" must be a number of seconds, more than 0 and at most "
                         "31536000 (a year); leave it out for an outage until restored");
  }
  const int64_t until = *seconds ? NowMs() + static_cast<int64_t>(**seconds * 1000) : 0;
  sim->SetOutage(where, until);
  spdlog::warn("sim: outage of {}{}{}", **provider, where.empty() ? "" : "/" + where,
               until == 0 ? " until restored" : "");
  return JsonResponse(202, SimOutageJson({**provider, "", where, until}));
}

}  // namespace

void AddSimRoutes(Router& router, const ApiContext& api) {
  if (api.fleet == nullptr) return;
  router.Add("GET", "/v1/sim/books", [&api](const Call& c) { return Books(api, c); });
  router.Add("POST", "/v1/sim/preempt", [&api](const Call& c) { return Preempt(api, c); });
  router.Add("POST", "/v1/sim/outage",
             [&api](const Call& c) { return OutageOrRestore(api, c, true); });
  router.Add("POST", "/v1/sim/restore",
             [&api](const Call& c) { return OutageOrRestore(api, c, false); });
}

}  // namespace awan::server
