// `awan server start|stop|status|run`.
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "awan/catalog/loader.h"
#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/providers/fleet.h"
#include "awan/server/api.h"
#include "awan/server/server.h"
#include "commands.h"

namespace awan::cli {

int RunServerForeground(const ServerArgs& args) {
  server::DaemonOptions o;
  o.home = client::AwanHome();
  if (const char* db = std::getenv("AWAN_DB")) o.db_url = db;
  o.host = args.host;
  o.port = args.port;
  o.catalog_paths = args.catalog;
  o.config_path = args.config;
  return server::RunServerDaemon(o);
}

int RunServerStart(const ServerArgs& args) {
  const std::string home = client::AwanHome();
  if (auto c = client::Connect(home); c.ok()) {
    auto info = client::ReadServerInfo(home);
    std::cout << fmt::format("awan server already running at {} (pid {})\n", c->url(),
                             info.ok() ? info->pid : 0);
    return kExitOk;
  }
  if (args.port != 0 || args.host != "127.0.0.1" || !args.catalog.empty()) {
    std::cerr << "awan: --host/--port/--catalog apply to `awan server run` (foreground); run it "
                 "under your "
                 "service manager, or use `awan server start` for the defaults\n";
    return kExitBadInput;
  }
  // A config the server would refuse is reported here, not after a 15 s wait for a server that
  // exited.
  catalog::LoadReport report;
  if (auto builtin = catalog::BuiltinCatalog(report); builtin.ok()) {
    auto fleet =
        providers::LoadFleet(args.config, home, *builtin, providers::DetectLocalResources());
    if (!fleet.ok()) {
      std::cerr << "awan: " << fleet.status().message() << "\n";
      return kExitBadInput;
    }
  }
  auto c = client::ConnectOrStart(home, /*quiet=*/true, args.config);
  if (!c.ok()) {
    std::cerr << "awan: " << c.status().message() << "\n";
    return kExitFailed;
  }
  auto info = client::ReadServerInfo(home);
  std::cout << fmt::format("awan server started at {} (pid {}, store {}, log {}/server.log)\n",
                           c->url(), info.ok() ? info->pid : 0, info.ok() ? info->store : "?",
                           home);
  return kExitOk;
}

int RunServerStop() {
  const std::string home = client::AwanHome();
  auto info = client::ReadServerInfo(home);
  if (!info.ok() || kill(static_cast<pid_t>(info->pid), 0) != 0) {
    std::cout << fmt::format("no awan server is running for {}\n", home);
    return kExitOk;
  }
  kill(static_cast<pid_t>(info->pid), SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (kill(static_cast<pid_t>(info->pid), 0) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << fmt::format("awan: the server (pid {}) did not stop within 15 s\n", info->pid);
      return kExitFailed;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cout << fmt::format(
      "awan server (pid {}) stopped; running jobs keep running and are adopted at the next "
      "start\n",
      info->pid);
  return kExitOk;
}

int RunServerStatus(bool json) {
  const std::string home = client::AwanHome();
  auto info = client::ReadServerInfo(home);
  auto c = client::Connect(home);
  const bool running = info.ok() && c.ok();
  // The fleet scheduler, when the server runs one (null otherwise, or when the server does not
  // answer).
  std::optional<server::SchedulerView> scheduler;
  if (running) {
    if (auto r = c->Call("GET", "/v1/server"); r.ok() && r->status == 200) {
      if (auto v = server::DecodeServer(r->body); v.ok()) scheduler = v->scheduler;
    }
  }
  if (json) {
    nlohmann::ordered_json j;
    j["running"] = running;
    j["url"] = running ? nlohmann::ordered_json(info->url) : nlohmann::ordered_json(nullptr);
    j["pid"] = running ? nlohmann::ordered_json(info->pid) : nlohmann::ordered_json(nullptr);
    j["store"] = running ? nlohmann::ordered_json(info->store) : nlohmann::ordered_json(nullptr);
    j["home"] = home;
    j["scheduler"] = nlohmann::ordered_json::parse(server::SchedulerJson(scheduler));
    std::cout << DumpJson(j, 2) << "\n";
    return running ? kExitOk : kExitFailed;
  }
  if (!running) {
    std::cout << fmt::format(
        "no awan server is running for {} (`awan server start` starts one; any command "
        "that needs it starts one too)\n",
        home);
    return kExitFailed;
  }
  std::cout << fmt::format(
      "awan server running\n  url:   {}\n  pid:   {}\n  store: {}\n  home:  {}\n", info->url,
      info->pid, info->store, home);
  if (scheduler) {
    std::cout << fmt::format(
        "  fleet scheduler: policy {}, {} queued, {} running, {} of {} accelerators in use ({})\n",
        scheduler->policy, scheduler->queued, scheduler->running, scheduler->accelerators_in_use,
        scheduler->accelerators_total, scheduler->fleet);
  }
  return kExitOk;
}

}  // namespace awan::cli
