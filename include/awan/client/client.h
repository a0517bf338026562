// The CLI's side of the REST API: finds the server of an AWAN_HOME (server.json + token), starts
// one when none is running, and makes requests. Synchronous (Boost.Beast); one connection per
// request.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace awan::client {

// AWAN_HOME, or ~/.awan.
std::string AwanHome();

struct HttpResponse {
  int status = 0;
  std::string body;
};

class ApiClient {
 public:
  ApiClient(std::string host, int port, std::string token)
      : host_(std::move(host)), port_(port), token_(std::move(token)) {}
  // Unavailable when the server cannot be reached.
  absl::StatusOr<HttpResponse> Call(std::string_view method, std::string_view target,
                                    const std::string& body = "") const;
  // GET with a streamed (chunked) body: `on_data` gets each piece as it arrives.
  absl::StatusOr<int> Stream(std::string_view target,
                             const std::function<void(std::string_view)>& on_data) const;
  std::string url() const;

 private:
  std::string host_;
  int port_;
  std::string token_;
};

struct ServerInfo {
  std::string url, store;
  int64_t pid = 0;
};
// Reads HOME/server.json; NotFound when no server has written one.
absl::StatusOr<ServerInfo> ReadServerInfo(const std::string& home);
// A client for the running server, if it answers its health check.
absl::StatusOr<ApiClient> Connect(const std::string& home);
// Connect, or start `awan server run` in the background (log in HOME/server.log) and wait for it.
// `config`: the fleet config it runs with (default: $AWAN_HOME/config.yaml, else the embedded
// default).
absl::StatusOr<ApiClient> ConnectOrStart(const std::string& home, bool quiet = false,
                                         const std::string& config = "");

}  // namespace awan::client
