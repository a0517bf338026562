// `awan serve up|status|update|down|logs` (services, docs/services.md) and `awan gateway` (the data
// plane in front of them, its own process). Progress goes to stderr; `serve up` prints the
// endpoint URL as the last line of stdout.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "api_call.h"
#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/gateway/gateway.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

namespace fs = std::filesystem;
using J = nlohmann::ordered_json;

// The service file's text and where it is, after checking it here (errors name file and line).
struct ServiceFile {
  std::string text, path, dir;
};
std::optional<ServiceFile> ReadServiceFile(const std::string& file) {
  auto task = spec::LoadTaskFile(file);
  if (!task.ok()) {
    std::cerr << task.status().message() << "\n";
    return std::nullopt;
  }
  if (!task->service) {
    std::cerr << fmt::format(
        "awan: {} has no `service:` section, so it is a job: run it with `awan launch {}`\n", file,
        file);
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const fs::path path = fs::absolute(file, ec);
  // Relative paths are resolved where the command runs, as SkyPilot does.
  return ServiceFile{text.str(), path.string(), std::filesystem::current_path(ec).string()};
}

std::optional<controller::ServiceView> ServiceFrom(const client::HttpResponse& r) {
  auto s = server::DecodeService(r.body);
  if (!s.ok()) std::cerr << "awan: " << s.status().message() << "\n";
  return s.ok() ? std::optional<controller::ServiceView>(std::move(*s)) : std::nullopt;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// Prints the service's events after the first `seen`; returns the new count.
size_t PrintEvents(const client::ApiClient& c, const std::string& name, size_t seen) {
  auto r = c.Call("GET", fmt::format("/v1/services/{}/events", name));
  if (!r.ok() || r->status != 200) return seen;
  auto events = server::DecodeEvents(r->body);
  if (!events.ok()) return seen;
  for (size_t i = seen; i < events->size(); ++i) {
    const std::string& t = (*events)[i].time;
    std::cerr << fmt::format("[awan] {} {}\n", t.size() >= 19 ? t.substr(11, 8) : t,
                             (*events)[i].message);
  }
  return events->size();
}

// Waits until a replica of the current version is ready (or the service failed).
int WaitReady(const client::ApiClient& c, const std::string& name, int version, int timeout_s) {
  size_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    seen = PrintEvents(c, name, seen);
    auto r = c.Call("GET", "/v1/services/" + name);
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    auto s = ServiceFrom(*r);
    if (!s) return kExitFailed;
    if (s->status == "FAILED") {
      std::cerr << fmt::format("awan: service {} failed: {}\n", name, s->record.reason);
      return kExitFailed;
    }
    const bool ready = std::any_of(s->replicas.begin(), s->replicas.end(), [&](const auto& rep) {
      return rep.ready && rep.version == version;
    });
    if (ready) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::cerr << fmt::format(
      "awan: no replica of {} was ready within {} s; it keeps trying (`awan serve status {}`)\n",
      name, timeout_s, name);
  return kExitFailed;
}

}  // namespace

int RunServeUp(const ServeUpArgs& args) {
  auto file = ReadServiceFile(args.file);
  if (!file) return kExitBadInput;
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  J body{{"task_yaml", file->text}, {"source", file->path}, {"base_dir", file->dir}};
  if (!args.name.empty()) body["name"] = args.name;
  auto r = c->Call("POST", "/v1/services", DumpJson(body));
  if (!r.ok()) {
    std::cerr << "awan: " << r.status().message() << "\n";
    return kExitFailed;
  }
  if (r->status != 201) return Fail(*r);
  auto s = ServiceFrom(*r);
  if (!s) return kExitFailed;
  std::cerr << fmt::format("Service {} is up: {} replica(s) wanted, served at {}\n", s->record.name,
                           s->desired, s->endpoint);
  int code = kExitOk;
  if (!args.detach) {
    std::cerr << "Waiting for a replica to be ready (Ctrl-C stops waiting; the service stays)\n";
    code = WaitReady(*c, s->record.name, s->record.version, args.wait_s);
  }
  std::cout << s->endpoint << "\n";
  return code;
}

int RunServeStatus(const std::string& name, bool json) {
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  std::vector<controller::ServiceView> services;
  if (!name.empty()) {
    auto r = c->Call("GET", "/v1/services/" + name);
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    if (json) {
      std::cout << r->body << "\n";
      return kExitOk;
    }
    auto s = ServiceFrom(*r);
    if (!s) return kExitFailed;
    services.push_back(std::move(*s));
  } else {
    auto r = c->Call("GET", "/v1/services");
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    if (json) {
      std::cout << r->body << "\n";
      return kExitOk;
    }
    auto list = server::DecodeServiceList(r->body);
    if (!list.ok()) {
      std::cerr << "awan: " << list.status().message() << "\n";
      return kExitFailed;
    }
    services = std::move(*list);
    if (services.empty()) {
      std::cout << "No services. Start one with `awan serve up SERVICE.yaml` (see "
                   "examples/services/).\n";
      return kExitOk;
    }
  }
  Table t;
  for (const char* h :
       {"SERVICE", "STATUS", "VERSION", "READY", "QPS", "IN_FLIGHT", "POLICY", "ENDPOINT"}) {
    t.Column(h);
  }
  for (const auto& s : services) {
    const auto ready =
        std::count_if(s.replicas.begin(), s.replicas.end(), [](const auto& r) { return r.ready; });
    t.Row({s.record.name, s.status, std::to_string(s.record.version),
           fmt::format("{}/{}", ready, s.desired), fmt::format("{:.1f}", s.qps),
           std::to_string(s.in_flight), s.policy, s.endpoint});
  }
  std::cout << t.Render();
  Table replicas;
  for (const char* h : {"SERVICE", "REPLICA", "VERSION", "PROVIDER", "REGION", "CAPACITY", "STATE",
                        "QPS", "ADDRESS"}) {
    replicas.Column(h);
  }
  for (const auto& s : services) {
    for (const auto& r : s.replicas) {
      replicas.Row({s.record.name, std::to_string(r.id), std::to_string(r.version),
                    OrDash(r.provider), OrDash(r.region), r.spot ? "spot" : "on-demand", r.state,
                    fmt::format("{:.1f}", r.qps),
                    r.host.empty() ? "-" : fmt::format("{}:{}", r.host, r.port)});
    }
  }
  if (replicas.rows() > 0) std::cout << "\n" << replicas.Render();
  for (const auto& s : services) {
    if (!s.record.reason.empty() && (s.status == "FAILED" || s.status == "SHUTTING_DOWN")) {
      std::cout << fmt::format("\n{}: {}\n", s.record.name, s.record.reason);
    }
  }
  return kExitOk;
}

int RunServeUpdate(const ServeUpdateArgs& args) {
  auto file = ReadServiceFile(args.file);
  if (!file) return kExitBadInput;
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  J body{{"task_yaml", file->text},
         {"source", file->path},
         {"base_dir", file->dir},
         {"mode", args.mode}};
  auto r = c->Call("POST", fmt::format("/v1/services/{}/update", args.name), DumpJson(body));
  if (!r.ok()) return kExitFailed;
  if (r->status != 202) return Fail(*r);
  auto s = ServiceFrom(*r);
  if (!s) return kExitFailed;
  std::cerr << fmt::format("Service {}: version {} is rolling out ({})\n", s->record.name,
                           s->record.version, args.mode);
  std::cout << s->endpoint << "\n";
  return kExitOk;
}

int RunServeDown(const std::string& name, bool wait) {
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  auto r = c->Call("POST", fmt::format("/v1/services/{}/down", name));
  if (!r.ok()) return kExitFailed;
  if (r->status != 202) return Fail(*r);
  std::cerr << fmt::format("Service {} is going down: its replicas leave the routes, then stop\n",
                           name);
  while (wait) {
    auto g = c->Call("GET", "/v1/services/" + name);
    if (!g.ok() || g->status != 200) break;
    auto s = ServiceFrom(*g);
    if (!s || s->status == "DOWN") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cout << fmt::format("Service {} is {}.\n", name, wait ? "down" : "going down");
  return kExitOk;
}

int RunServeKeys(const std::string& action, const std::string& name, const std::string& arg,
                 bool json) {
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  if (action == "create") {
    auto r =
        c->Call("POST", fmt::format("/v1/services/{}/keys", name), DumpJson(J{{"label", arg}}));
    if (!r.ok()) return kExitFailed;
    if (r->status != 201) return Fail(*r);
    const J j = J::parse(r->body, nullptr, false);
    if (json) {
      std::cout << r->body << "\n";
      return kExitOk;
    }
    std::cerr << fmt::format(
        "API key {} of {} (shown only now; clients send `Authorization: Bearer KEY`):\n",
        j.value("id", 0), name);
    std::cout << j.value("key", "") << "\n";
    return kExitOk;
  }
  if (action == "revoke") {
    auto r = c->Call("POST", fmt::format("/v1/services/{}/keys/{}/revoke", name, arg));
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    std::cout << fmt::format("API key {} of {} revoked; gateways refuse it within a second.\n", arg,
                             name);
    return kExitOk;
  }
  auto r = c->Call("GET", fmt::format("/v1/services/{}/keys", name));
  if (!r.ok()) return kExitFailed;
  if (r->status != 200) return Fail(*r);
  if (json) {
    std::cout << r->body << "\n";
    return kExitOk;
  }
  Table t;
  for (const char* h : {"ID", "LABEL", "CREATED", "REVOKED"}) t.Column(h);
  for (const J& k : J::parse(r->body)) {
    t.Row({std::to_string(k.value("id", 0)), OrDash(k.value("label", "")),
           k.value("created_at", ""),
           k["revoked_at"].is_null() ? "-" : k["revoked_at"].get<std::string>()});
  }
  std::cout << t.Render();
  return kExitOk;
}

int RunServeLogs(const std::string& name, int64_t replica, bool follow) {
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  if (replica == 0) {
    auto r = c->Call("GET", "/v1/services/" + name);
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    auto s = ServiceFrom(*r);
    if (!s) return kExitFailed;
    if (s->replicas.empty()) {
      std::cerr << fmt::format("awan: service {} has no replica running\n", name);
      return kExitFailed;
    }
    replica = s->replicas.front().id;
    std::cerr << fmt::format("(replica {}; --replica K for another)\n", replica);
  }
  return RunLogs(std::to_string(replica), follow);
}

// "NAME=PORT=HOST:PORT[,HOST:PORT...]".
absl::StatusOr<gateway::RouteConfig> ParseRoute(const GatewayArgs& args, const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        fmt::format("--route '{}': {}; expected NAME=PORT=HOST:PORT[,HOST:PORT...]", text, why));
  };
  const size_t a = text.find('='), b = text.find('=', a + 1);
  if (a == std::string::npos || b == std::string::npos) return bad("two '=' are needed");
  gateway::RouteConfig route;
  route.name = text.substr(0, a);
  route.host = args.host;
  route.policy = args.policy;
  route.readiness_path = args.readiness_path;
  route.tls_certfile = args.tls_certfile;
  route.tls_keyfile = args.tls_keyfile;
  const auto port = [](const std::string& p) -> int {
    char* end = nullptr;
    const long n = std::strtol(p.c_str(), &end, 10);
    return end != p.c_str() && *end == '\0' && n >= 0 && n <= 65535 ? static_cast<int>(n) : -1;
  };
  route.port = port(text.substr(a + 1, b - a - 1));
  if (route.name.empty() || route.port < 0) return bad("a name and a port (0–65535) are needed");
  std::stringstream replicas(text.substr(b + 1));
  std::string item;
  while (std::getline(replicas, item, ',')) {
    const size_t colon = item.rfind(':');
    const int p = colon == std::string::npos ? -1 : port(item.substr(colon + 1));
    if (p <= 0) return bad(fmt::format("'{}' is not HOST:PORT", item));
    route.replicas.push_back({std::to_string(route.replicas.size() + 1), item.substr(0, colon), p});
  }
  if (route.replicas.empty()) return bad("no replica");
  return route;
}

// A route's managed endpoints with their keys read from the variable or file each names. The
// key itself is never printed: errors name where it was looked for.
absl::StatusOr<std::vector<gateway::ManagedEndpoint>> ResolveFallbacks(
    const std::vector<spec::FallbackSpec>& specs) {
  std::vector<gateway::ManagedEndpoint> out;
  for (const spec::FallbackSpec& f : specs) {
    gateway::ManagedEndpoint e;
    e.name = f.name.empty() ? f.kind : f.name;
    e.kind = f.kind;
    e.base_url = f.base_url;
    e.model = f.model;
    e.deployment = f.deployment;
    e.api_version = f.api_version;
    e.ca_file = f.ca_file;
    e.timeout_ms = std::max<int64_t>(1, static_cast<int64_t>(f.timeout_s * 1000));
    e.cooldown_ms = static_cast<int64_t>(f.cooldown_s * 1000);
    if (!f.api_key_env.empty()) {
      const char* key = std::getenv(f.api_key_env.c_str());
      if (key == nullptr || *key == '\0') {
        return absl::FailedPreconditionError(fmt::format(
            "fallback {}: ${} is not set in the gateway's environment", e.name, f.api_key_env));
      }
      e.api_key = key;
    } else if (!f.api_key_file.empty()) {
      std::ifstream in(f.api_key_file);
      std::string key;
      if (!in || !std::getline(in, key)) {
        return absl::FailedPreconditionError(
            fmt::format("fallback {}: cannot read its key from {}", e.name, f.api_key_file));
      }
      while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
      e.api_key = key;
    } else if (f.kind == "bedrock") {  // SigV4 with the standard AWS variables
      e.region = f.region;
      const auto env = [](const char* name) {
        const char* v = std::getenv(name);
        return std::string(v != nullptr ? v : "");
      };
      e.aws_access_key_id = env("AWS_ACCESS_KEY_ID");
      e.aws_secret_access_key = env("AWS_SECRET_ACCESS_KEY");
      e.aws_session_token = env("AWS_SESSION_TOKEN");
      if (e.aws_access_key_id.empty() || e.aws_secret_access_key.empty()) {
        return absl::FailedPreconditionError(fmt::format(
            "fallback {}: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY are not set in the "
            "gateway's environment (or give api_key_env / api_key_file: a Bedrock API key)",
            e.name));
      }
    }
    e.region = f.region;
    e.project = f.project;
    if (f.kind == "vertex") {  // the service-account key: the named file, or Google's variable
      std::string path = f.credentials_file;
      if (path.empty()) {
        const char* v = std::getenv("GOOGLE_APPLICATION_CREDENTIALS");
        path = v != nullptr ? v : "";
      }
      std::ifstream in(path);
      if (path.empty() || !in) {
        return absl::FailedPreconditionError(
            fmt::format("fallback {}: no service-account key (credentials_file, or "
                        "$GOOGLE_APPLICATION_CREDENTIALS in the gateway's environment){}",
                        e.name, path.empty() ? "" : ": cannot read " + path));
      }
      std::stringstream key;
      key << in.rdbuf();
      e.service_account_json = key.str();
    }
    out.push_back(std::move(e));
  }
  return out;
}

int RunGateway(const GatewayArgs& args) {
  const std::string home = client::AwanHome();
  std::vector<gateway::RouteConfig> fixed;
  std::vector<gateway::ManagedEndpoint> fixed_fallbacks;
  if (!args.fallbacks_file.empty()) {
    auto specs = spec::LoadFallbacksFile(args.fallbacks_file);
    if (specs.ok()) {
      auto resolved = ResolveFallbacks(*specs);
      if (!resolved.ok()) specs = resolved.status();
      if (resolved.ok()) fixed_fallbacks = std::move(*resolved);
    }
    if (!specs.ok()) {
      std::cerr << "awan gateway: --fallbacks: " << specs.status().message() << "\n";
      return kExitBadInput;
    }
  }
  for (const std::string& text : args.routes) {
    auto route = ParseRoute(args, text);
    if (!route.ok()) {
      std::cerr << "awan gateway: " << route.status().message() << "\n";
      return kExitBadInput;
    }
    route->fallbacks = fixed_fallbacks;
    fixed.push_back(std::move(*route));
  }
  gateway::GatewayOptions options;
  options.admin_host = args.admin_host;
  options.admin_port = args.admin_port;
  gateway::Gateway gw(options);
  auto started = gw.Start(fixed);
  if (!started.ok()) {
    std::cerr << "awan gateway: " << started.status().message() << "\n";
    return kExitFailed;
  }
  const std::string admin = fmt::format("http://{}:{}", args.admin_host, gw.admin_port());
  if (fixed.empty()) {
    std::cerr << fmt::format(
        "awan gateway (pid {}): routes from the server of {}; metrics at {}/metrics\n", getpid(),
        home, admin);
  } else {
    for (size_t i = 0; i < fixed.size(); ++i) {
      std::cerr << fmt::format(
          "awan gateway (pid {}): route {} on {}:{} ({} replicas{})\n", getpid(), fixed[i].name,
          args.host, (*started)[i], fixed[i].replicas.size(),
          fixed_fallbacks.empty()
              ? ""
              : fmt::format(", then {} managed endpoint{}", fixed_fallbacks.size(),
                            fixed_fallbacks.size() == 1 ? "" : "s"));
    }
    if (gw.admin_port() >= 0)
      std::cerr << fmt::format("awan gateway: metrics at {}/metrics\n", admin);
  }
  if (!args.state_file.empty()) {
    J info{{"pid", static_cast<int64_t>(getpid())}, {"admin_url", admin}};
    std::ofstream(args.state_file) << DumpJson(info) << "\n";
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string id = fmt::format("{}:{}", host, getpid());
  std::string last;               // the routes as last applied
  std::set<std::string> refused;  // services not served (unauthenticated beyond loopback)
  boost::system::error_code addr_ec;
  const auto listen = boost::asio::ip::make_address(args.host, addr_ec);
  const bool loopback = !addr_ec && listen.is_loopback();
  bool reachable = true;
  auto unreachable_since = std::chrono::steady_clock::now();
  while (!fixed.empty()) {  // fixed routes: nothing to ask anyone
    siginfo_t info;
    if (sigwaitinfo(&signals, &info) > 0) break;
  }
  for (; fixed.empty();) {
    // Nothing to serve and no server to ask (its home gone, or down a while): done.
    std::error_code home_ec;
    if (!fs::exists(home, home_ec) ||
        (!reachable && last.empty() &&
         std::chrono::steady_clock::now() - unreachable_since > std::chrono::seconds(10))) {
      std::cerr << "awan gateway: no routes and no server to ask; exiting\n";
      break;
    }
    timespec wait{args.poll_ms / 1000, (args.poll_ms % 1000) * 1000000};
    auto c = client::Connect(home);
    std::vector<controller::RouteLoad> counters;
    for (const auto& route : gw.Counters()) {
      controller::RouteLoad load;
      load.name = route.name;
      load.requests_total = route.requests_total;
      load.in_flight = static_cast<int>(route.in_flight);
      load.tokens_in_flight = route.tokens_in_flight;
      load.waiting = route.waiting;
      load.request_seconds_total = route.integrals.request_seconds;
      load.token_seconds_total = route.integrals.token_seconds;
      load.waiting_seconds_total = route.integrals.waiting_seconds;
      load.tokens_routed_total = route.integrals.tokens_routed;
      for (const auto& rep : route.replicas) {
        load.replicas.push_back(
            {rep.id, static_cast<uint64_t>(rep.requests), static_cast<int>(rep.in_flight)});
      }
      counters.push_back(std::move(load));
    }
    absl::StatusOr<client::HttpResponse> r =
        c.ok() ? c->Call("POST", "/v1/gateway/sync", server::GatewaySyncJson(id, counters))
               : absl::StatusOr<client::HttpResponse>(c.status());
    if (!r.ok() || r->status != 200) {
      if (reachable) {
        std::cerr << fmt::format(
            "awan gateway: the server does not answer ({}); serving the last routes it gave\n",
            r.ok() ? ErrorMessage(*r) : std::string(r.status().message()));
        unreachable_since = std::chrono::steady_clock::now();
      }
      reachable = false;
    } else {
      reachable = true;
      auto services = server::DecodeServiceList(r->body);
      if (services.ok()) {
        std::vector<gateway::RouteConfig> routes;
        for (const controller::ServiceView& s : *services) {
          if (s.status == "DOWN" || s.record.port == 0) continue;
          gateway::RouteConfig route;
          route.name = s.record.name;
          route.host = args.host;
          route.port = s.record.port;
          route.policy = s.policy.empty() ? "least_load" : s.policy;
          route.readiness_path = s.readiness_path;
          route.require_key = s.api_key;
          route.key_hashes = s.key_hashes;
          route.tls_certfile = s.tls_certfile;
          route.tls_keyfile = s.tls_keyfile;
          for (const std::string& signal : s.autoscale_signals) {
            route.count_tokens = route.count_tokens || signal == "tokens_in_flight";
            route.count_tokens = route.count_tokens || signal == "tokens_per_s";
            route.read_metrics = route.read_metrics || signal == "waiting";
          }
          if (!s.fallbacks.empty()) {
            auto fallbacks = ResolveFallbacks(s.fallbacks);
            if (fallbacks.ok()) {
              route.fallbacks = std::move(*fallbacks);
            } else if (refused.insert(s.record.name + "/fallbacks").second) {
              std::cerr << fmt::format("awan gateway: {} has no fallbacks: {}\n", s.record.name,
                                       std::string(fallbacks.status().message()));
            }
          }
          if (!s.api_key && !loopback && !args.allow_unauthenticated) {
            if (refused.insert(s.record.name).second) {
              std::cerr << fmt::format(
                  "awan gateway: not serving {}: it has no API keys (`auth: api_key`) and this "
                  "gateway listens on {}, beyond loopback (--allow-unauthenticated to serve it)\n",
                  s.record.name, args.host);
            }
            continue;
          }
          for (const controller::ReplicaView& rep : s.replicas) {
            if (rep.draining || rep.host.empty()) continue;
            route.replicas.push_back({std::to_string(rep.id), rep.host, rep.port});
          }
          routes.push_back(std::move(route));
        }
        std::string summary;
        for (const auto& route : routes) {
          summary += fmt::format(
              "{}:{}{}[", route.name, route.port,
              route.require_key ? fmt::format(" ({} keys)", route.key_hashes.size()) : "");
          for (const auto& rep : route.replicas) {
            summary += fmt::format("{}={}:{} ", rep.id, rep.host, rep.port);
          }
          summary += "] ";
        }
        if (summary != last) {
          absl::Status s = gw.SetRoutes(routes);
          std::cerr << fmt::format("awan gateway: routes {}{}\n",
                                   summary.empty() ? "(none)" : summary,
                                   s.ok() ? "" : fmt::format("— {}", std::string(s.message())));
          last = summary;
        }
      }
    }
    siginfo_t info;
    if (sigtimedwait(&signals, &info, &wait) > 0) break;
  }
  std::cerr << "awan gateway: stopping\n";
  gw.Stop();
  if (!args.state_file.empty()) {
    std::error_code ec;
    fs::remove(args.state_file, ec);
  }
  return kExitOk;
}

}  // namespace awan::cli
