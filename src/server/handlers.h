// The API's handlers, by resource, and the route table they make (docs/api.md). Each handler reads
// its request through RequestBody (a wrong type is a 400) and answers with the shared JSON shapes
// of api.h. Internal to src/server; tests/unit/server drives them against a real store.
#pragma once

#include <functional>
#include <string>

#include "awan/catalog/catalog.h"
#include "awan/controller/job_controller.h"
#include "awan/providers/fleet.h"
#include "awan/server/server.h"
#include "awan/store/store.h"
#include "router.h"

namespace awan::server {

struct ApiContext {
  controller::JobController& controller;
  store::Store& store;
  const catalog::Catalog& catalog;
  const ServerOptions& options;
  const providers::Fleet* fleet;     // may be null: no /v1/providers entries, no emulation
  std::function<std::string()> url;  // the server's own URL, for GET /v1/server
};

// GET /v1/health (public), GET /v1/server, GET /v1/providers, GET /v1/catalog, POST /v1/optimize.
void AddServerRoutes(Router& router, const ApiContext& api);
// POST|GET /v1/jobs, GET /v1/jobs/{id}, .../events, .../logs, POST .../cancel.
void AddJobRoutes(Router& router, const ApiContext& api);
// POST|GET /v1/services, GET /v1/services/{name}, .../events, POST .../update, .../down.
void AddServiceRoutes(Router& router, const ApiContext& api);
// The emulation controls: GET /v1/sim/books, POST /v1/sim/{outage,restore,preempt}.
void AddSimRoutes(Router& router, const ApiContext& api);

// Buckets: GET /v1/storage, DELETE /v1/storage/{store}/{name}.
void AddStorageRoutes(Router& router, const ApiContext& api);

// Every route above.
Router MakeRouter(const ApiContext& api);

// The job's log from `offset`, at most `max` bytes ("" when there is none yet).
std::string ReadLog(const std::string& path, uint64_t offset, size_t max);

}  // namespace awan::server
