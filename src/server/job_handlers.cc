// POST|GET /v1/jobs, GET /v1/jobs/{id}, /events, /logs, POST /v1/jobs/{id}/cancel.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "handlers.h"
#include "request_body.h"

namespace awan::server {
namespace {

using J = nlohmann::ordered_json;

// The {id} of a job path: a positive whole number, or a 400 saying what was sent.
std::optional<int64_t> JobId(const Call& call, HttpResponse& error) {
  const std::string& text = call.params.at("id");
  auto id = ParseNumber(text);
  if (!id || *id < 1 || *id > 9e15 || *id != static_cast<double>(static_cast<int64_t>(*id))) {
    error = ErrorResponse(400, fmt::format("'{}' is not a job id", text));
    return std::nullopt;
  }
  return static_cast<int64_t>(*id);
}

// A query parameter that must be a whole number in [min, max] when given.
absl::StatusOr<std::optional<int64_t>> QueryInt(const Target& target, const std::string& name,
                                                int64_t min, int64_t max, const char* what) {
  auto it = target.query.find(name);
  if (it == target.query.end()) return std::nullopt;
  auto n = ParseNumber(it->second);
  if (!n || *n < static_cast<double>(min) || *n > static_cast<double>(max) ||
      *n != static_cast<double>(static_cast<int64_t>(*n))) {
    return absl::InvalidArgumentError(fmt::format("{} must be {}", name, what));
  }
  return static_cast<int64_t>(*n);
}

HttpResponse Launch(const ApiContext& api, const Call& call) {
  auto body = RequestBody::Parse(call.request.body);
  if (!body.ok()) return ErrorFrom(body.status());
  if (absl::Status s = body->Only({"task_yaml", "source", "base_dir", "retry_until_up", "secrets"});
      !s.ok()) {
    return ErrorFrom(s);
  }
  // {"NAME": "value"}: secrets given at launch, set in the task before it is stored.
  std::vector<std::pair<std::string, std::string>> secrets;
  const auto whole = nlohmann::json::parse(call.request.body, nullptr, false);
  if (whole.is_object() && whole.contains("secrets")) {
    const auto& given = whole["secrets"];
    if (!given.is_object()) {
      return ErrorResponse(400, "\"secrets\" must be an object {\"NAME\": \"value\"}");
    }
    for (auto it = given.begin(); it != given.end(); ++it) {
      if (!it.value().is_string()) {
        return ErrorResponse(400, fmt::format("\"secrets\": the value of {} must be a string",
                                              it.key()));  // never the value itself
      }
      secrets.emplace_back(it.key(), it.value().get<std::string>());
    }
  }
  auto yaml = body->String("task_yaml");
  auto source = body->String("source");
  auto base_dir = body->String("base_dir");
  auto retry = body->Bool("retry_until_up");
  for (const absl::Status& s :
       {yaml.status(), source.status(), base_dir.status(), retry.status()}) {
    if (!s.ok()) return ErrorFrom(s);
  }
  if (!*yaml) return ErrorResponse(400, "body needs \"task_yaml\": the task file's text");
  const std::string from = source->value_or("<request>");
  auto with_secrets = spec::WithSecrets(**yaml, secrets);
  if (!with_secrets.ok()) return ErrorFrom(with_secrets.status());
  auto id = api.controller.Submit(*with_secrets, from, base_dir->value_or(api.options.home),
                                  retry->value_or(false));
  if (!id.ok()) return ErrorFrom(id.status());
  auto job = api.store.GetJob(*id);
  spdlog::info("job {} submitted from {}", *id, from);
  return JsonResponse(201, job.ok() ? JobJson(*job) : DumpJson(J{{"id", *id}}));
}

HttpResponse List(const ApiContext& api, const Call& call) {
  store::JobQuery q;
  auto limit = QueryInt(call.target, "limit", 1, 1000, "1..1000");
  if (!limit.ok()) return ErrorFrom(limit.status());
  if (*limit) q.limit = static_cast<size_t>(**limit);
  auto before = QueryInt(call.target, "before", 1, int64_t{1} << 53, "a job id");
  if (!before.ok()) return ErrorFrom(before.status());
  if (*before) q.before_id = **before;
  q.active_only = call.target.query.count("active") != 0 && call.target.query.at("active") != "0";
  q.service_id = 0;  // jobs of their own: services' replicas are listed under /v1/services
  auto jobs = api.store.ListJobs(q);
  if (!jobs.ok()) return ErrorFrom(jobs.status());
  std::string out = "{\"jobs\":[";
  for (size_t i = 0; i < jobs->size(); ++i) out += (i ? "," : "") + JobJson((*jobs)[i]);
  out += "],\"next_before\":";
  out += jobs->size() == q.limit && !jobs->empty() ? std::to_string(jobs->back().id) : "null";
  out += "}";
  return JsonResponse(200, std::move(out));
}

// The job object plus its nodes: [{"rank", "provider", "host"}].
HttpResponse Get(const ApiContext& api, const Call& call) {
  HttpResponse error;
  const auto id = JobId(call, error);
  if (!id) return error;
  auto job = api.store.GetJob(*id);
  if (!job.ok()) return ErrorFrom(job.status());
  J j = J::parse(JobJson(*job));
  J nodes = J::array();
  if (auto list = api.store.ListNodes(*id); list.ok()) {
    for (const auto& n : *list) {
      nodes.push_back({{"rank", n.rank}, {"provider", n.provider}, {"host", n.host}});
    }
  }
  j["nodes"] = nodes;
  return JsonResponse(200, DumpJson(j));
}

HttpResponse Events(const ApiContext& api, const Call& call) {
  HttpResponse error;
  const auto id = JobId(call, error);
  if (!id) return error;
  auto events = api.store.ListEvents(*id);
  if (!events.ok()) return ErrorFrom(events.status());
  J out = J::array();
  for (const auto& e : *events) {
    out.push_back({{"time", IsoTime(e.time)}, {"type", e.type}, {"message", e.message}});
  }
  return JsonResponse(200, DumpJson(out));
}

HttpResponse Logs(const ApiContext& api, const Call& call) {
  HttpResponse error;
  const auto id = JobId(call, error);
  if (!id) return error;
  auto job = api.store.GetJob(*id);
  if (!job.ok()) return ErrorFrom(job.status());
  auto offset = QueryInt(call.target, "offset", 0, int64_t{1} << 53, "a byte offset");
  if (!offset.ok()) return ErrorFrom(offset.status());
  HttpResponse r;
  r.content_type = "text/plain; charset=utf-8";
  r.body =
      ReadLog(api.controller.LogPath(*id), static_cast<uint64_t>(offset->value_or(0)), 16 << 20);
  return r;
}

// 202 with the job as it was when the request arrived (the loop may stop it right away).
HttpResponse Cancel(const ApiContext& api, const Call& call) {
  HttpResponse error;
  const auto id = JobId(call, error);
  if (!id) return error;
  auto before = api.store.GetJob(*id);
  if (!before.ok()) return ErrorFrom(before.status());
  if (absl::Status s = api.controller.Cancel(*id); !s.ok()) return ErrorFrom(s);
  spdlog::info("job {}: cancel requested (was {})", *id, store::JobStateName(before->state));
  return JsonResponse(202, JobJson(*before));
}

}  // namespace

std::string ReadLog(const std::string& path, uint64_t offset, size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string data(max, '\0');
  in.read(data.data(), static_cast<std::streamsize>(max));
  data.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return data;
}

void AddJobRoutes(Router& router, const ApiContext& api) {
  const auto bind = [&api](HttpResponse (*f)(const ApiContext&, const Call&)) {
    return [&api, f](const Call& call) { return f(api, call); };
  };
  router.Add("POST", "/v1/jobs", bind(Launch));
  router.Add("GET", "/v1/jobs", bind(List));
  router.Add("GET", "/v1/jobs/{id}", bind(Get));
  router.Add("GET", "/v1/jobs/{id}/events", bind(Events));
  router.Add("GET", "/v1/jobs/{id}/logs", bind(Logs));
  router.Add("POST", "/v1/jobs/{id}/cancel", bind(Cancel));
}

}  // namespace awan::server
