// The REST server (JSON over HTTP, /v1/...; docs/api.md). Boost.Beast on one I/O thread with C++20
// coroutines; handlers call the store and the controller, both thread-safe. Every request but
// GET /v1/health needs `Authorization: Bearer TOKEN` (401 without, 403 with a wrong one); bodies
// are limited (413); malformed JSON or YAML is a 400 naming the problem; unknown jobs are 404.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "awan/catalog/catalog.h"
#include "awan/controller/job_controller.h"
#include "awan/providers/fleet.h"
#include "awan/store/store.h"

namespace awan::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see port())
  std::string token;
  size_t max_body_bytes = 1 << 20;
  std::string home;                        // reported by GET /v1/server
  std::string gateway_host = "127.0.0.1";  // services' endpoints are http://gateway_host:PORT
  // Called after a service was created (the daemon makes sure a gateway runs); may be empty.
  std::function<void()> on_service_up;
  // Connections: at most this many at once (and never more than the fd limit allows, less a
  // reserve for jobs, the store and logs); past it the longest-idle connection is closed.
  size_t max_connections = 4096;
  int header_timeout_s = 10;           // a request's start line and headers, from its first byte
  int idle_timeout_s = 60;             // a kept-alive connection waiting for its next request
  int body_timeout_s = 60;             // a request's body, once its headers are in
  size_t max_header_bytes = 16 << 10;  // larger: 431 (or 414 when the target alone is larger)
};

class ApiServer {
 public:
  // `fleet` (may be nullptr) serves /v1/providers and the emulation controls /v1/sim/...
  ApiServer(controller::JobController& controller, store::Store& store,
            const catalog::Catalog& catalog, ServerOptions options,
            const providers::Fleet* fleet = nullptr);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving on a background thread.
  absl::Status Start();
  int port() const;
  std::string url() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole `awan server run`: lock AWAN_HOME, token, store, controller (with restart recovery),
// API server, server.json; serves until SIGTERM/SIGINT. Returns the exit code.
struct DaemonOptions {
  std::string home;
  std::string db_url;  // "" = sqlite:HOME/awan.db
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<std::string> catalog_paths;
  std::string config_path;  // fleet config ("" = $AWAN_HOME/config.yaml, else the embedded default)
  // Start `awan gateway` (its own process, log HOME/gateway.log) while services are up, unless
  // one from an earlier start still runs (HOME/gateway.json).
  bool gateway = true;
};
int RunServerDaemon(const DaemonOptions& options);

}  // namespace awan::server
