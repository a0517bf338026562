// Buckets: GET /v1/storage, DELETE /v1/storage/{store}/{name} (docs/storage.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "handlers.h"

namespace awan::server {
namespace {

using J = nlohmann::ordered_json;

HttpResponse List(const ApiContext& api) {
  auto buckets = api.controller.storage().List();
  if (!buckets.ok()) return ErrorFrom(buckets.status());
  J out = J::array();
  for (const storage::Bucket& b : *buckets) {
    out.push_back({{"store", b.store},
                   {"name", b.name},
                   {"objects", b.objects},
                   {"bytes", b.bytes},
                   {"location", b.location}});
  }
  return JsonResponse(200, DumpJson(J{{"buckets", out}}));
}

// The jobs that have not ended and attach the bucket (a bucket in use is not deleted).
std::vector<int64_t> UsersOf(const ApiContext& api, const std::string& store,
                             const std::string& name) {
  std::vector<int64_t> users;
  auto jobs = api.store.ListJobs({100000, 0, true});
  if (!jobs.ok()) return users;
  for (const store::JobRecord& job : *jobs) {
    auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
    if (!task.ok()) continue;
    for (const spec::StorageMount& m : task->storage_mounts) {
      if (m.name == name && api.controller.storage().StoreOf(m) == store) {
        users.push_back(job.id);
        break;
      }
    }
  }
  return users;
}

HttpResponse Delete(const ApiContext& api, const Call& call) {
  const std::string& store = call.params.at("store");
  const std::string& name = call.params.at("name");
  if (std::vector<int64_t> users = UsersOf(api, store, name); !users.empty()) {
    std::string ids;
    for (int64_t id : users) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
    return ErrorResponse(409, fmt::format("bucket {} is attached by job(s) {} that have not "
                                          "ended; cancel them first",
                                          name, ids));
  }
  absl::Status s = api.controller.storage().Delete(store, name);
  if (!s.ok()) return ErrorFrom(s);
  spdlog::info("storage: bucket {} deleted from the {} store", name, store);
  return JsonResponse(200, DumpJson(J{{"store", store}, {"name", name}, {"deleted", true}}));
}

}  // namespace

void AddStorageRoutes(Router& router, const ApiContext& api) {
  router.Add("GET", "/v1/storage", [&api](const Call&) { return List(api); });
  router.Add("DELETE", "/v1/storage/{store}/{name}",
             [&api](const Call& c) { return Delete(api, c); });
}

}  // namespace awan::server
