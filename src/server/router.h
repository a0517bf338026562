// The API's route table: (method, path pattern, handler) rows, where a pattern's `{name}` segment
// matches one path segment and is handed to the handler. A path no row matches gets 404; a path
// that matches with another method gets 405 and `Allow`; HEAD is answered for every GET route, with
// the headers and no body. Routes are public (no token) only when marked so. Internal to
// src/server.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "awan/server/http.h"

namespace awan::server {

struct Call {
  const HttpRequest& request;
  const Target& target;
  std::map<std::string, std::string> params;  // from the pattern's {name} segments
};

using Handler = std::function<HttpResponse(const Call&)>;

// {"error": {"code", "message"}} with that status.
HttpResponse ErrorResponse(int status, const std::string& message);
// A JSON body with that status.
HttpResponse JsonResponse(int status, std::string body);
// The error answer for a failed status: 400 invalid argument, 404 not found, 409 failed
// precondition or already exists, 503 unavailable, else 500.
HttpResponse ErrorFrom(const absl::Status& status);

class Router {
 public:
  // `pattern` such as "/v1/jobs/{id}/logs".
  void Add(std::string method, std::string pattern, Handler handler, bool is_public = false);
  // Answers one request; `authorize` is asked only for routes that are not public (0 = allowed,
  // else the status to answer: 401 or 403).
  HttpResponse Dispatch(const HttpRequest& request,
                        const std::function<int(const HttpRequest&)>& authorize) const;
  // The routes, for docs and tests: "GET /v1/jobs", ...
  std::vector<std::string> List() const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    bool is_public = false;
  };
  static bool Match(const Route& route, const std::vector<std::string>& path,
                    std::map<std::string, std::string>& params);
  std::vector<Route> routes_;
};

}  // namespace awan::server
