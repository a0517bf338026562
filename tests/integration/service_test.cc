// Services through the real `awan` binary, its server and its gateway, as a user drives them:
// `awan serve up` on the embedded default's emulated clouds, requests through the endpoint under
// load (tests/support/load.h), and what must not drop a request — a replica killed, a provider's
// outage, kill -9 of the server, a rolling update. Replicas run examples/services/echo_server.py.
// Each test has its own AWAN_HOME.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "awan/client/client.h"
#include "support/command.h"
#include "support/load.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using J = nlohmann::json;
using awan::testing::LoadGenerator;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            fmt::format("awan-svc-{}-{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_ / "tasks");
  }
  void TearDown() override {
    for (const std::string& name : services_) Awan("serve down " + name + " --wait");
    // The gateway goes by itself once it has no routes and no server; do not wait for it.
    if (auto pid = GatewayPid(); pid > 0) kill(pid, SIGTERM);
    Awan("server stop");
    fs::remove_all(home_);
  }
  awan::testing::CommandResult Awan(const std::string& args) {
    return awan::testing::RunCommand(
        fmt::format("env AWAN_HOME={} {} {}", home_.string(), AWAN_BINARY, args));
  }
  // An echo service (examples/services/echo_server.py) on the emulated clouds.
  std::string Service(const std::string& name, int replicas, const std::string& tag = "v1",
                      const std::string& run = "python3 echo_server.py") {
    return ServiceWith(name, fmt::format("replicas: {}", replicas), tag, run);
  }
  std::string ServiceWith(const std::string& name, const std::string& count,
                          const std::string& tag = "v1",
                          const std::string& run = "python3 echo_server.py") {
    const fs::path p = home_ / "tasks" / (name + "-" + tag + ".yaml");
    std::ofstream(p) << fmt::format(
        R"(name: {}
workdir: {}/examples/services
resources:
  cpus: 2+
  any_of: [{{infra: aws}}, {{infra: gcp}}, {{infra: azure}}]
envs: {{ECHO_TAG: {}}}
service:
  readiness_probe: {{path: /health, initial_delay_seconds: 30, timeout_seconds: 2}}
  {}
  spread: {{providers: 2}}
  ports: 8080
run: {}
)",
        name, AWAN_SOURCE_DIR, tag, count, run);
    return p.string();
  }
  // `awan serve up`: the endpoint's port (from the URL, the last line of stdout).
  int Up(const std::string& file) {
    auto r = Awan("serve up " + file + " --wait 60");
    EXPECT_EQ(r.code, 0) << r.err << "\nserver log:\n"
                         << awan::testing::ReadFile((home_ / "server.log").string());
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.rfind('\n') + 1);
    EXPECT_EQ(last.rfind("http://127.0.0.1:", 0), 0u) << r.out;
    const auto name = J::parse(Awan("serve status --json").out)["services"][0]["name"];
    services_.insert(name.get<std::string>());
    return std::atoi(last.c_str() + last.rfind(':') + 1);
  }
  // A service from its YAML (`{}` in it: the source folder, for workdir), up: its endpoint's port.
  int UpYaml(const std::string& name, const std::string& yaml) {
    const fs::path file = home_ / "tasks" / (name + ".yaml");
    std::ofstream(file) << fmt::format(fmt::runtime(yaml), AWAN_SOURCE_DIR);
    return Up(file.string());
  }
  // The service's events (GET /v1/services/NAME/events), as JSON text.
  std::string Events(const std::string& name) {
    return awan::testing::RunCommand(
               fmt::format("curl -s -H 'Authorization: Bearer {}' {}/v1/services/{}/events",
                           awan::testing::ReadFile((home_ / "token").string()).substr(0, 64),
                           awan::client::ReadServerInfo(home_.string())->url, name))
        .out;
  }
  J Status(const std::string& name) {
    auto r = Awan("serve status " + name + " --json");
    EXPECT_EQ(r.code, 0) << r.err;
    J j = J::parse(r.out, nullptr, false);
    return j.is_discarded() ? J::object() : j;
  }
  // Waits until `done(status)`; false after `seconds`.
  bool WaitFor(const std::string& name, const std::function<bool(const J&)>& done,
               int seconds = 30) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(Status(name))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "timed out; status: " << Status(name).dump(2);
    return false;
  }
  static int Ready(const J& s, int version = 0) {
    int n = 0;
    for (const auto& r : s.value("replicas", J::array())) {
      if (r["ready"] == true && (version == 0 || r["version"] == version)) ++n;
    }
    return n;
  }
  pid_t GatewayPid() {
    J j = J::parse(awan::testing::ReadFile((home_ / "gateway.json").string()), nullptr, false);
    return j.is_object() ? j.value("pid", 0) : 0;
  }
  // The failures of a load run, for messages.
  static std::string Failures(const LoadGenerator& load) {
    std::string out;
    for (const auto& [when, what] : load.failures()) out += what + "; ";
    return out;
  }

  fs::path home_;
  std::set<std::string> services_;
};

TEST_F(ServiceTest, UpServesThroughTheGatewayOnTwoProvidersAndStatusKeepsTheContract) {
  const int port = Up(Service("echo", 2));
  ASSERT_GT(port, 0);
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  const J s = Status("echo");
  for (const char* field : {"name", "endpoint", "replicas", "policy"}) {
    EXPECT_TRUE(s.contains(field)) << field;
  }
  EXPECT_EQ(s["name"], "echo");
  EXPECT_EQ(s["endpoint"], fmt::format("http://127.0.0.1:{}", port));
  EXPECT_EQ(s["policy"], "least_load");
  std::set<std::string> providers;
  for (const auto& r : s["replicas"]) {
    for (const char* field : {"id", "provider", "region", "state", "ready"}) {
      EXPECT_TRUE(r.contains(field)) << field;
    }
    EXPECT_EQ(r["state"], "READY");
    providers.insert(r["provider"].get<std::string>());
  }
  EXPECT_EQ(providers.size(), 2u) << "spread: {providers: 2}";
  EXPECT_EQ(providers.count("local"), 0u);
  // Requests reach both replicas through the endpoint.
  LoadGenerator load(port, 2, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  EXPECT_EQ(load.bodies().size(), 2u);
  // Jobs of their own are listed by `awan status`; replicas are not.
  EXPECT_THAT(Awan("status").out, Not(HasSubstr("echo")));
  // The gateway's metrics count what it relayed.
  J gw = J::parse(awan::testing::ReadFile((home_ / "gateway.json").string()));
  auto metrics =
      awan::testing::RunCommand("curl -s " + gw["admin_url"].get<std::string>() + "/metrics");
  EXPECT_THAT(metrics.out, HasSubstr("awan_gateway_replica_requests_total{route=\"echo\""));
}

TEST_F(ServiceTest, AReplicaKilledUnderLoadIsReplacedWithNoFailedRequest) {
  const int port = Up(Service("echo", 2));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  const int64_t victim = Status("echo")["replicas"][0]["id"];
  LoadGenerator load(port, 4, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int pid = std::stoi(awan::testing::ReadFile(
      (home_ / "jobs" / std::to_string(victim) / "node-0" / "pid").string()));
  ASSERT_EQ(kill(-pid, SIGKILL), 0);
  // Replaced: two ready replicas again, the victim not among them.
  ASSERT_TRUE(WaitFor("echo", [&](const J& s) {
    if (Ready(s) != 2) return false;
    for (const auto& r : s["replicas"]) {
      if (r["id"] == victim) return false;
    }
    return true;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  EXPECT_GT(load.ok(), 100);
}

// `spread: {providers: 2}` over two providers: an outage of one puts both replicas on the other;
// once it is back, a replica moves back (a new one there first, then one of the crowded provider
// goes), and no request fails while it does.
TEST_F(ServiceTest, AfterAnOutageEndsTheReplicasGoBackOntoTheirSpread) {
  const int port = UpYaml("two", R"(name: two
workdir: {}/examples/services
resources:
  cpus: 2+
  any_of: [{{infra: aws}}, {{infra: gcp}}]
service:
  readiness_probe: {{path: /health, initial_delay_seconds: 30, timeout_seconds: 2}}
  replicas: 2
  spread: {{providers: 2}}
  ports: 8080
run: python3 echo_server.py
)");
  ASSERT_GT(port, 0);
  const auto providers = [](const J& s) {
    std::set<std::string> out;
    for (const auto& r : s["replicas"]) {
      if (r["ready"] == true && r["draining"] != true) out.insert(r.value("provider", ""));
    }
    return out;
  };
  ASSERT_TRUE(
      WaitFor("two", [&](const J& s) { return Ready(s) == 2 && providers(s).size() == 2; }));
  const std::string down = Status("two")["replicas"][0]["provider"];
  ASSERT_EQ(Awan("sim outage " + down).code, 0);
  ASSERT_TRUE(WaitFor("two", [&](const J& s) {
    return Ready(s) == 2 && s["replicas"].size() == 2 && providers(s).size() == 1;
  }));
  ASSERT_EQ(Awan("sim restore " + down).code, 0);
  LoadGenerator load(port, 2, "/hello");
  const bool restored = WaitFor(
      "two",
      [&](const J& s) {
        return Ready(s) == 2 && s["replicas"].size() == 2 && providers(s).size() == 2 &&
               providers(s).count(down) == 1;
      },
      60);
  load.Stop();
  const std::string log = Events("two");
  ASSERT_TRUE(restored) << log;
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  EXPECT_GT(load.ok(), 0);
  EXPECT_THAT(log, HasSubstr("is to restore the spread"));
  EXPECT_THAT(log, HasSubstr("spread restored"));
}

// SkyServe's on-demand fallback for spot replicas: of 2 replicas, base_ondemand_fallback_replicas
// (1) runs on demand always, the other on spot; with dynamic_ondemand_fallback, a spot replica
// that is not ready (still starting, or preempted) has an on-demand stand-in until it is ready
// again, and the stand-in then goes. Traffic is served throughout.
TEST_F(ServiceTest, SpotReplicasHaveAnOnDemandFallbackWhileTheyAreNotReady) {
  const int port = UpYaml("spotty", R"(name: spotty
workdir: {}/examples/services
resources: {{accelerators: H100:8, infra: aws, use_spot: true}}
service:
  readiness_probe: {{path: /health, initial_delay_seconds: 30, timeout_seconds: 2}}
  replica_policy:
    min_replicas: 2
    max_replicas: 2
    base_ondemand_fallback_replicas: 1
    dynamic_ondemand_fallback: true
  ports: 8080
run: python3 echo_server.py
)");
  ASSERT_GT(port, 0);
  // The steady mix: one spot, one on demand, both ready, nothing else left.
  const auto steady = [](const J& s) {
    int spot = 0, on_demand = 0, others = 0;
    for (const auto& r : s["replicas"]) {
      if (r["draining"] == true || r["ready"] != true) {
        ++others;
      } else {
        ++(r["spot"] == true ? spot : on_demand);
      }
    }
    return spot == 1 && on_demand == 1 && others == 0;
  };
  ASSERT_TRUE(WaitFor("spotty", steady, 60));
  int64_t spot_id = 0;
  const J first = Status("spotty");
  for (const auto& r : first["replicas"]) {
    if (r["spot"] == true) spot_id = r["id"].get<int64_t>();
  }
  ASSERT_GT(spot_id, 0) << first.dump(2);
  const std::string table = Awan("serve status spotty").out;
  EXPECT_THAT(table, HasSubstr("CAPACITY"));
  EXPECT_THAT(table, HasSubstr("on-demand"));

  const auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  const std::string kStandIn = ", on demand)",
                    kStandDown = "on-demand fallback is no longer needed";
  const std::string before = Events("spotty");
  // At the start the spot replica was not ready yet: it had a stand-in, which went once it was.
  EXPECT_EQ(count(before, ", spot)"), 1u) << before;
  EXPECT_EQ(count(before, kStandIn), 2u) << before;
  EXPECT_EQ(count(before, kStandDown), 1u) << before;

  LoadGenerator load(port, 2, "/hello");
  // Preempt the spot replica's node: its job is queued again, and an on-demand stand-in starts.
  const auto shown = Awan(fmt::format("status {} --json", spot_id));
  const J job = J::parse(shown.out, nullptr, false);
  ASSERT_TRUE(job.is_object() && job.contains("nodes") && !job["nodes"].empty())
      << shown.out << shown.err;
  auto preempt = Awan("sim preempt " + job["nodes"][0].value("host", ""));
  ASSERT_EQ(preempt.code, 0) << preempt.err;
  std::string after;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    after = Events("spotty");
    if (count(after, kStandIn) == 3 && count(after, kStandDown) == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(count(after, kStandIn), 3u) << after;
  EXPECT_EQ(count(after, kStandDown), 2u) << after;
  ASSERT_TRUE(WaitFor("spotty", steady, 60));
  const J last = Status("spotty");
  for (const auto& r : last["replicas"]) {
    if (r["spot"] == true) {
      EXPECT_EQ(r["id"].get<int64_t>(), spot_id);  // the same job, recovered
    }
  }
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  EXPECT_GT(load.ok(), 0);
}

TEST_F(ServiceTest, AProviderOutageUnderLoadMovesTrafficToTheSurvivors) {
  const int port = Up(Service("echo", 2));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  const std::string down = Status("echo")["replicas"][0]["provider"];
  LoadGenerator load(port, 4, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto outage = LoadGenerator::Clock::now();
  ASSERT_EQ(Awan("sim outage " + down).code, 0);
  // The replica there is lost and placed again elsewhere; the other serves meanwhile.
  ASSERT_TRUE(WaitFor("echo", [&](const J& s) {
    if (Ready(s) != 2) return false;
    for (const auto& r : s["replicas"]) {
      if (r["provider"] == down) return false;
    }
    return true;
  }));
  std::this_thread::sleep_until(outage + std::chrono::seconds(6));
  load.Stop();
  // At most the requests in flight on the lost replica fail (the gateway retries those it can),
  // and none later than 5 s after the outage began.
  EXPECT_LE(load.failed(), 4) << Failures(load);
  for (const auto& [when, what] : load.failures()) {
    EXPECT_LT(when - outage, std::chrono::seconds(5)) << what;
  }
  EXPECT_GT(load.bodies_since(outage + std::chrono::seconds(5)).size(), 0u);
  Awan("sim restore " + down);
}

TEST_F(ServiceTest, KillDashNineOfTheServerUnderLoadFailsNoRequestAndReplicasAreAdopted) {
  const int port = Up(Service("echo", 2));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  std::set<int64_t> before;
  const J up = Status("echo");
  for (const auto& r : up["replicas"]) before.insert(r["id"].get<int64_t>());
  LoadGenerator load(port, 4, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto info = awan::client::ReadServerInfo(home_.string());
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(kill(static_cast<pid_t>(info->pid), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the gateway serves on alone
  const int64_t during = load.ok();
  EXPECT_GT(during, 0);
  // Any command starts a new server, which adopts the replicas.
  ASSERT_TRUE(WaitFor("echo", [&](const J& s) {
    std::set<int64_t> now;
    for (const auto& r : s["replicas"]) now.insert(r["id"].get<int64_t>());
    return Ready(s) == 2 && now == before;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  auto events = awan::testing::RunCommand(
      fmt::format("curl -s -H 'Authorization: Bearer {}' {}/v1/services/echo/events",
                  awan::testing::ReadFile((home_ / "token").string()).substr(0, 64),
                  awan::client::ReadServerInfo(home_.string())->url));
  EXPECT_THAT(events.out, HasSubstr("2 replica(s) adopted"));
}

TEST_F(ServiceTest, RollingUpdateUnderLoadFailsNoRequest) {
  const int port = Up(Service("echo", 2, "v1"));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  LoadGenerator load(port, 4, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto update = Awan("serve update echo " + Service("echo", 2, "v2"));
  ASSERT_EQ(update.code, 0) << update.err;
  // Never fewer than two ready on the way; done when both are version 2.
  int lowest = 2;
  ASSERT_TRUE(WaitFor(
      "echo",
      [&](const J& s) {
        lowest = std::min(lowest, Ready(s));
        return Ready(s, 2) == 2 && s["replicas"].size() == 2;
      },
      60));
  const auto done = LoadGenerator::Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));  // the old ones drained
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << Failures(load);
  EXPECT_GE(lowest, 2);
  for (const auto& [body, n] : load.bodies_since(done + std::chrono::seconds(2))) {
    EXPECT_THAT(body, HasSubstr("\"tag\": \"v2\"")) << n;
  }
  EXPECT_EQ(Status("echo")["version"], 2);
}

TEST_F(ServiceTest, TheAutoscalerScalesUpUnderLoadAndBackDownWithNoFailedRequest) {
  const int port = Up(ServiceWith("echo",
                                  "replica_policy: {min_replicas: 2, max_replicas: 4, "
                                  "target_qps_per_replica: 5, upscale_delay_seconds: 1, "
                                  "downscale_delay_seconds: 1}"));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  EXPECT_EQ(Status("echo")["desired_replicas"], 2);
  {
    LoadGenerator load(port, 2, "/hello", 20);  // ~90 requests/s: 4 replicas wanted
    ASSERT_TRUE(WaitFor(
        "echo", [](const J& s) { return s["desired_replicas"] == 4 && Ready(s) == 4; }, 60));
    EXPECT_GT(Status("echo")["qps"].get<double>(), 15);
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << Failures(load);
  }
  // No load: the window's rate falls and it scales back to min_replicas.
  ASSERT_TRUE(WaitFor(
      "echo", [](const J& s) { return s["desired_replicas"] == 2 && s["replicas"].size() == 2; },
      60));
  auto info = awan::client::ReadServerInfo(home_.string());
  ASSERT_TRUE(info.ok());
  auto events = awan::testing::RunCommand(
      fmt::format("curl -s -H 'Authorization: Bearer {}' {}/v1/services/echo/events",
                  awan::testing::ReadFile((home_ / "token").string()).substr(0, 64), info->url));
  EXPECT_THAT(events.out, HasSubstr("scale up 2 → 4 replicas"));
  EXPECT_THAT(events.out, HasSubstr("scale down 4 → "));  // as the window's rate falls
  EXPECT_THAT(events.out, HasSubstr(" → 2 replicas"));
}

// Token-aware autoscaling through the real path: the gateway counts each completion's tokens on a
// least_load route (the service asks for it), reports them integrated over time, and the server
// scales on their mean over its window — eight long requests of 360 tokens against a target of
// 1,000 per replica.
TEST_F(ServiceTest, TheAutoscalerScalesOnTokensInFlight) {
  const int port = Up(ServiceWith("tok",
                                  "replica_policy: {min_replicas: 1, max_replicas: 2, "
                                  "target_tokens_in_flight_per_replica: 1000, "
                                  "upscale_delay_seconds: 1, downscale_delay_seconds: 1}",
                                  "v1",
                                  "exec \"$AWAN_BIN\" llm-replica --port \"$AWAN_REPLICA_PORT\" "
                                  "--decode-ms-per-step 200"));
  ASSERT_TRUE(WaitFor("tok", [](const J& s) { return Ready(s) == 1; }));
  EXPECT_EQ(Status("tok")["autoscale_signals"], J::array({"tokens_in_flight"}));
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([port, i] {
      awan::testing::RunCommand(
          fmt::format("curl -s -m 60 http://127.0.0.1:{}/v1/completions -d '{{\"prompt\": \"\", "
                      "\"input_length\": 300, \"hash_ids\": [{}], \"max_tokens\": 60}}'",
                      port, i));
    });
  }
  const bool scaled = WaitFor(
      "tok", [](const J& s) { return s["desired_replicas"] == 2; }, 30);
  const J status = Status("tok");
  for (auto& c : clients) c.join();
  ASSERT_TRUE(scaled) << status.dump();
  auto info = awan::client::ReadServerInfo(home_.string());
  ASSERT_TRUE(info.ok());
  auto events = awan::testing::RunCommand(
      fmt::format("curl -s -H 'Authorization: Bearer {}' {}/v1/services/tok/events",
                  awan::testing::ReadFile((home_ / "token").string()).substr(0, 64), info->url));
  EXPECT_THAT(events.out, HasSubstr("scale up 1 → 2 replicas: "));
  EXPECT_THAT(events.out, HasSubstr("tokens in flight, target 1000 per replica"));
}

// Active-active: a second gateway serves the same endpoint (SO_REUSEPORT); kill -9 of one loses at
// most the requests it had in flight, and the other answers the rest.
TEST_F(ServiceTest, TwoGatewaysServeSideBySideAndKillDashNineOfOneLosesOnlyItsOwnRequests) {
  const int port = Up(Service("echo", 2));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  const fs::path second_state = home_ / "gateway-2.json";
  const std::string second_log = (home_ / "gateway-2.log").string();
  ASSERT_EQ(std::system(fmt::format("env AWAN_HOME={} {} gateway --state-file {} 2>{} &",
                                    home_.string(), AWAN_BINARY, second_state.string(), second_log)
                            .c_str()),
            0);
  // Up once it has its routes (and its probes marked the replicas ready).
  for (int i = 0;
       i < 100 && awan::testing::ReadFile(second_log).find("routes echo") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const J second = J::parse(awan::testing::ReadFile(second_state.string()));
  const pid_t second_pid = second["pid"];
  auto served = [](const std::string& admin) {
    auto m = awan::testing::RunCommand("curl -s " + admin + "/metrics");
    int64_t total = 0;
    std::istringstream in(m.out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("awan_gateway_request_duration_seconds_count{route=\"echo\"}", 0) == 0) {
        total += std::stoll(line.substr(line.rfind(' ') + 1));
      }
    }
    return total;
  };
  // New connections are spread over both gateways by the kernel (a hash of each connection's
  // ports): eight kept-alive connections all land on one gateway about once in 128 tries, so a few
  // rounds of fresh connections are made until each gateway has served some.
  const J first = J::parse(awan::testing::ReadFile((home_ / "gateway.json").string()));
  for (int round = 0; round < 10; ++round) {
    LoadGenerator probe(port, 8, "/hello", 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    probe.Stop();
    EXPECT_EQ(probe.failed(), 0) << Failures(probe);
    if (served(second["admin_url"].get<std::string>()) > 0 &&
        served(first["admin_url"].get<std::string>()) > 0) {
      break;
    }
  }
  EXPECT_GT(served(second["admin_url"].get<std::string>()), 0);
  EXPECT_GT(served(first["admin_url"].get<std::string>()), 0);
  LoadGenerator load(port, 4, "/hello");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(kill(second_pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  load.Stop();
  EXPECT_LE(load.failed(), 4) << Failures(load);  // at most one in flight per client
  EXPECT_GT(load.ok(), 100);
}

TEST_F(ServiceTest, AServiceWithApiKeysAnswers401WithoutAValidKey) {
  const int port = Up(ServiceWith("echo", "replicas: 2\n  auth: api_key"));
  ASSERT_TRUE(WaitFor("echo", [](const J& s) { return Ready(s) == 2; }));
  const auto code = [&](const std::string& key) {
    const std::string header = key.empty() ? "" : " -H 'Authorization: Bearer " + key + "'";
    return awan::testing::RunCommand(
               fmt::format("curl -s -o /dev/null -w '%{{http_code}}'{} http://127.0.0.1:{}/hello",
                           header, port))
        .out;
  };
  // Within a gateway poll or two of a change.
  const auto becomes = [&](const std::string& key, const std::string& want) {
    for (int i = 0; i < 30; ++i) {
      if (code(key) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  EXPECT_EQ(code(""), "401");
  auto created = Awan("serve keys create echo --label ci");
  ASSERT_EQ(created.code, 0) << created.err;
  std::string key = created.out;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  key = key.substr(key.rfind('\n') + 1);
  ASSERT_EQ(key.rfind("awan-sk-", 0), 0u) << created.out;
  EXPECT_TRUE(becomes(key, "200"));
  EXPECT_EQ(code(key + "x"), "401");
  EXPECT_EQ(code(""), "401");
  // The server keeps only the hash: the key is nowhere in the API's answers.
  EXPECT_THAT(Awan("serve keys ls echo --json").out, Not(HasSubstr(key)));
  EXPECT_THAT(Awan("serve status echo --json").out, Not(HasSubstr(key)));
  ASSERT_EQ(Awan("serve keys revoke echo 1").code, 0);
  EXPECT_TRUE(becomes(key, "401"));
  EXPECT_THAT(Awan("serve keys ls echo").out, HasSubstr("ci"));
}

// examples/services/llm_server.py streams one SSE chunk per token (100 ms apart here): the chunks
// reach the client through the gateway as they are sent, and a client that goes away mid-stream
// cancels the replica's work.
TEST_F(ServiceTest, StreamsArriveAsSentAndADisconnectCancelsTheReplicasWork) {
  const fs::path file = home_ / "tasks" / "llm.yaml";
  std::ofstream(file) << fmt::format(R"(name: llm
workdir: {}/examples/services
resources:
  cpus: 2+
  any_of: [{{infra: aws}}, {{infra: gcp}}]
envs: {{TOKEN_MS: "100"}}
service:
  readiness_probe: /v1/models
  replicas: 1
  ports: 8000
run: python3 llm_server.py
)",
                                     AWAN_SOURCE_DIR);
  const int port = Up(file.string());
  ASSERT_TRUE(WaitFor("llm", [](const J& s) { return Ready(s) == 1; }));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string body =
      R"({"model": "m", "messages": [{"role": "user", "content": "one two three"}], )"
      R"("max_tokens": 30, "stream": true})";
  const std::string request = fmt::format(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: llm\r\nContent-Type: application/json\r\n"
      "Content-Length: {}\r\n\r\n{}",
      body.size(), body);
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  const auto start = std::chrono::steady_clock::now();
  std::string got;
  std::chrono::steady_clock::duration first{};
  auto events = [&] {
    size_t n = 0;
    for (size_t at = got.find("data: {"); at != std::string::npos;
         at = got.find("data: {", at + 1)) {
      ++n;
    }
    return n;
  };
  while (events() < 3 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (first == std::chrono::steady_clock::duration{} && events() > 0) {
      first = std::chrono::steady_clock::now() - start;
    }
  }
  close(fd);  // mid-stream: 27 tokens (2.7 s) were still to come
  ASSERT_GE(events(), 3u) << got;
  EXPECT_THAT(got, HasSubstr("text/event-stream"));
  EXPECT_LT(first, std::chrono::milliseconds(1500)) << "the first chunk waited for the end";
  const int64_t replica = Status("llm")["replicas"][0]["id"];
  bool cancelled = false;
  for (int i = 0; i < 50 && !cancelled; ++i) {
    cancelled =
        Awan(fmt::format("logs {}", replica)).out.find("cancelled after") != std::string::npos;
    if (!cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(cancelled) << Awan(fmt::format("logs {}", replica)).out;
}

// `tls:` in the service section: the gateway serves the endpoint over HTTPS with that certificate.
// And a gateway listening beyond loopback does not serve a service without API keys.
TEST_F(ServiceTest, TlsEndpointsAndNoUnauthenticatedServiceBeyondLoopback) {
  const fs::path dir = home_ / "tasks";
  ASSERT_EQ(awan::testing::RunCommand(
                fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -keyout {0}/key.pem -out "
                            "{0}/cert.pem -days 1 -subj /CN=localhost -addext "
                            "subjectAltName=IP:127.0.0.1",
                            dir.string()))
                .code,
            0);
  // Relative paths are read from where the command runs (as SkyPilot does): run it in `dir`.
  const std::string service =
      ServiceWith("echo", "replicas: 2\n  tls: {keyfile: key.pem, certfile: cert.pem}");
  auto up =
      awan::testing::RunCommand(fmt::format("cd {} && env AWAN_HOME={} {} serve up {} --wait 60",
                                            dir.string(), home_.string(), AWAN_BINARY, service));
  ASSERT_EQ(up.code, 0) << up.err;
  services_.insert("echo");
  std::string endpoint = up.out;
  while (!endpoint.empty() && endpoint.back() == '\n') endpoint.pop_back();
  endpoint = endpoint.substr(endpoint.rfind('\n') + 1);
  ASSERT_EQ(endpoint.rfind("https://127.0.0.1:", 0), 0u) << up.out;
  EXPECT_EQ(Status("echo")["endpoint"], endpoint);
  const auto code = [&](const std::string& url, const std::string& extra) {
    std::string last;
    for (int i = 0; i < 30; ++i) {  // until the gateway has the route
      last = awan::testing::RunCommand(
                 fmt::format("curl -s -o /dev/null -w '%{{http_code}}' {} {}/hello", extra, url))
                 .out;
      if (last == "200") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return last;
  };
  EXPECT_EQ(code(endpoint, "--cacert " + (dir / "cert.pem").string()), "200");
  EXPECT_NE(code("http" + endpoint.substr(5), ""), "200");  // plain HTTP on the TLS port
  // A second gateway on every address: the service has no keys, so it is not served there.
  const std::string log = (home_ / "gateway-any.log").string();
  ASSERT_EQ(std::system(fmt::format("env AWAN_HOME={} timeout 3 {} gateway --host 0.0.0.0 "
                                    "--admin-port -1 2>{}",
                                    home_.string(), AWAN_BINARY, log)
                            .c_str()) != -1,
            true);
  EXPECT_THAT(awan::testing::ReadFile(log),
              HasSubstr("not serving echo: it has no API keys (`auth: api_key`) and this gateway "
                        "listens on 0.0.0.0, beyond loopback"));
}

TEST_F(ServiceTest, ReplicasThatNeverBecomeReadyFailTheServiceWithTheReason) {
  auto r = Awan("serve up " + Service("broken", 2, "v1", "exit 3") + " --wait 60");
  services_.insert("broken");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("service broken failed: 3 replicas in a row ended before they "
                               "were ready"));
  EXPECT_EQ(Status("broken")["status"], "FAILED");
}

TEST_F(ServiceTest, BadServiceFilesAreRefusedNamingFileLineAndField) {
  const fs::path bad = home_ / "tasks" / "bad.yaml";
  std::ofstream(bad) << "name: echo\nresources: {ports: 8080}\nservice:\n  readiness_probe: "
                        "/health\n  replicas: lots\nrun: true\n";
  auto r = Awan("serve up " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.yaml:5:13: service.replicas: 'lots' is not a number"));
  const fs::path job = home_ / "tasks" / "job.yaml";
  std::ofstream(job) << "run: true\n";
  r = Awan("serve up " + job.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("has no `service:` section, so it is a job"));
  EXPECT_EQ(Awan("serve status nosuch").code, 1);
}

}  // namespace
