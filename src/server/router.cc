#include "router.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/common/text.h"

namespace awan::server {
namespace {

std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

Target ParseTarget(std::string_view target) {
  Target t;
  const size_t q = target.find('?');
  t.path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    t.query[std::string(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return t;
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body) + "\n";
  return r;
}

HttpResponse ErrorResponse(int status, const std::string& message) {
  nlohmann::ordered_json j;
  j["error"] = {{"code", status}, {"message", message}};
  return JsonResponse(status, DumpJson(j));
}

HttpResponse ErrorFrom(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return ErrorResponse(400, std::string(status.message()));
    case absl::StatusCode::kNotFound:
      return ErrorResponse(404, std::string(status.message()));
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return ErrorResponse(409, std::string(status.message()));
    case absl::StatusCode::kUnavailable:
      return ErrorResponse(503, std::string(status.message()));
    default:
      return ErrorResponse(500, std::string(status.message()));
  }
}

void Router::Add(std::string method, std::string pattern, Handler handler, bool is_public) {
  routes_.push_back({std::move(method), Segments(pattern), std::move(handler), is_public});
}

bool Router::Match(const Route& route, const std::vector<std::string>& path,
                   std::map<std::string, std::string>& params) {
  if (route.segments.size() != path.size()) return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& s = route.segments[i];
    if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      if (path[i].empty()) return false;
      found[s.substr(1, s.size() - 2)] = path[i];
    } else if (s != path[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

HttpResponse Router::Dispatch(const HttpRequest& request,
                              const std::function<int(const HttpRequest&)>& authorize) const {
  if (FindInvalidUtf8(request.target)) {
    return ErrorResponse(400, "the request target is not valid UTF-8 (percent-encode other bytes)");
  }
  const Target target = ParseTarget(request.target);
  if (target.path.empty() || target.path.front() != '/') {
    return ErrorResponse(400, "the request target must be a path such as /v1/jobs");
  }
  const std::vector<std::string> path = Segments(target.path);
  const bool head = request.method == "HEAD";
  std::vector<std::string> allowed;
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (!Match(route, path, params)) continue;
    if (route.method != request.method && !(head && route.method == "GET")) {
      allowed.push_back(route.method);
      if (route.method == "GET") allowed.push_back("HEAD");
      continue;
    }
    if (!route.is_public) {
      if (const int denied = authorize(request); denied != 0) {
        HttpResponse r =
            denied == 401
                ? ErrorResponse(401,
                                "missing bearer token: send `Authorization: Bearer TOKEN` (the "
                                "token is in $AWAN_HOME/token)")
                : ErrorResponse(403, "wrong bearer token");
        if (denied == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    HttpResponse r;
    try {
      r = route.handler(Call{request, target, std::move(params)});
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", request.method, target.path, e.what());
      r = ErrorResponse(500, e.what());
    }
    return r;
  }
  if (!allowed.empty()) {
    std::string allow;
    for (const std::string& m : allowed) {
      if (allow.find(m) == std::string::npos) allow += (allow.empty() ? "" : ", ") + m;
    }
    HttpResponse r = ErrorResponse(
        405, fmt::format("{} does not take {} (it takes {})", target.path, request.method, allow));
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  return ErrorResponse(
      404, fmt::format("no endpoint {} {} (see docs/api.md)", request.method, target.path));
}

std::vector<std::string> Router::List() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) {
    std::string pattern;
    for (const std::string& s : r.segments) pattern += "/" + s;
    out.push_back(r.method + " " + pattern);
  }
  return out;
}

}  // namespace awan::server
