#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

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
  return DumpJson(j);
}

}  // namespace awan::server
