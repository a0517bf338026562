// The HTTP request and response as the API's handlers see them: plain data, no network types, so
// handlers are tested without sockets (tests/unit/server/) and the server's socket code stays in
// one file (server.cc).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace awan::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string body;
  std::string authorization;  // the Authorization header ("" when absent)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
};

// A request's path and its query parameters (not percent-decoded: awan's own values never need it).
struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};
Target ParseTarget(std::string_view target);

}  // namespace awan::server
