// The real `awan` binary and the server it starts, as a user drives them: launch, logs, cancel,
// queueing, kill -9 of the server mid-job, auth, bad input. Each test has its own AWAN_HOME.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "awan/client/client.h"
#include "support/command.h"
#include "support/postgres_server.h"
#include "support/s3_server.h"
#include "support/slurm_cluster.h"
#include "support/sshd_server.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using J = nlohmann::json;

bool Alive(pid_t pid) { return awan::testing::ProcessAlive(pid); }
std::string Slurp(const fs::path& p) { return awan::testing::ReadFile(p.string()); }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            fmt::format("awan-it-{}-{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_ / "tasks");
  }
  void TearDown() override {
    Awan("server stop");
    fs::remove_all(home_);
  }
  awan::testing::CommandResult Awan(const std::string& args, const std::string& env = "") {
    return awan::testing::RunCommand(
        fmt::format("env AWAN_HOME={} {} {} {}", home_.string(), env, AWAN_BINARY, args));
  }
  std::string Task(const std::string& name, const std::string& yaml) {
    const fs::path p = home_ / "tasks" / (name + ".yaml");
    std::ofstream(p) << yaml;
    return p.string();
  }
  int64_t LaunchDetached(const std::string& task, const std::string& env = "") {
    auto r = Awan("launch -d " + task, env);
    EXPECT_EQ(r.code, 0) << r.err;
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.rfind('\n') + 1);
    try {
      return std::stoll(last);
    } catch (const std::exception&) {
      ADD_FAILURE() << "launch -d printed no job id; stdout: " << r.out << "\nstderr: " << r.err
                    << "\nserver log: " << Slurp(home_ / "server.log");
      return 0;
    }
  }
  J Job(int64_t id) {
    auto r = Awan(fmt::format("status {} --json", id));
    EXPECT_EQ(r.code, 0) << r.err;
    J j = J::parse(r.out, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      ADD_FAILURE() << "status --json printed no job; stderr: " << r.err;
      return J::object();
    }
    return j;
  }
  bool WaitState(int64_t id, const std::string& state, int seconds = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Job(id).value("state", "") == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // examples/train/managed-train.yaml made quick for a test (120 steps of 0.05 s, its workdir
  // absolute), with `edits` (from, to) applied; the task file's path.
  std::string TrainTask(const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& edits) {
    std::string yaml = Slurp(fs::path(AWAN_SOURCE_DIR) / "examples/train/managed-train.yaml");
    std::vector<std::pair<std::string, std::string>> all = {
        {"workdir: examples/train", fmt::format("workdir: {}/examples/train", AWAN_SOURCE_DIR)},
        {"STEP_SECONDS: 0.25", "STEP_SECONDS: 0.05"},
        {"TOTAL_STEPS: 40", "TOTAL_STEPS: 120"}};
    all.insert(all.end(), edits.begin(), edits.end());
    for (const auto& [from, to] : all) {
      const size_t at = yaml.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) yaml.replace(at, from.size(), to);
    }
    return Task(name, yaml);
  }
  // Waits (20 s at most) for `text` in the job's log.
  bool WaitLog(int64_t id, const std::string& text) {
    for (int i = 0; i < 400; ++i) {
      if (Awan(fmt::format("logs {}", id)).out.find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  awan::client::ApiClient Client(const std::string& token) {
    auto info = awan::client::ReadServerInfo(home_.string());
    EXPECT_TRUE(info.ok());
    const std::string url = info->url;
    const int port = std::stoi(url.substr(url.rfind(':') + 1));
    return awan::client::ApiClient("127.0.0.1", port, token);
  }
  std::string Token() {
    std::string t = Slurp(home_ / "token");
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t;
  }

  fs::path home_;
};

TEST_F(ServerTest, LaunchStartsAServerRunsTheJobAndExitsWithItsCode) {
  auto r = Awan("launch " +
                Task("t", "name: seven\nrun: |\n  echo out-line\n  echo err-line >&2\n  exit 7\n"));
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_THAT(r.out, HasSubstr("out-line"));
  EXPECT_THAT(r.out, HasSubstr("err-line"));
  EXPECT_THAT(r.err, HasSubstr("starting a local server"));
  EXPECT_THAT(r.err, HasSubstr("RUNNING → FAILED"));
  EXPECT_THAT(r.err, HasSubstr("Job 1 FAILED (exit code 7)"));
  // The token file is private.
  EXPECT_EQ(fs::status(home_ / "token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ServerTest, DetachStatusEventsAndLogsFollowTheContract) {
  const int64_t id = LaunchDetached(Task("t", "name: ok\nrun: echo hi; sleep 0.3; echo bye\n"));
  EXPECT_EQ(id, 1);
  auto logs = Awan(fmt::format("logs {} -f", id));
  EXPECT_EQ(logs.code, 0);
  EXPECT_EQ(logs.out, "hi\nbye\n");
  J job = Job(id);
  for (const char* field : {"id", "name", "state", "exit_code", "placement", "submitted_at",
                            "started_at", "ended_at"}) {
    EXPECT_TRUE(job.contains(field)) << field;
  }
  for (const char* field : {"provider", "region", "zone", "instance_type", "num_nodes"}) {
    EXPECT_TRUE(job["placement"].contains(field)) << field;
  }
  EXPECT_EQ(job["state"], "SUCCEEDED");
  EXPECT_EQ(job["exit_code"], 0);
  EXPECT_EQ(job["placement"]["provider"], "local");
  auto list = Awan("status --json");
  ASSERT_TRUE(J::parse(list.out).is_array());
  EXPECT_EQ(J::parse(list.out)[0]["id"], id);
  auto events = J::parse(Awan(fmt::format("events {} --json", id)).out);
  ASSERT_EQ(events.size(), 4u);
  for (const auto& e : events) {
    EXPECT_TRUE(e.contains("time") && e.contains("type") && e.contains("message"));
  }
  auto server = J::parse(Awan("server status --json").out);
  EXPECT_TRUE(server["url"].is_string());
  EXPECT_TRUE(server["pid"].is_number());
  EXPECT_THAT(server["store"].get<std::string>(), HasSubstr("sqlite:"));
  EXPECT_EQ(Awan(fmt::format("logs {}", id)).out, "hi\nbye\n");
}

TEST_F(ServerTest, CancelReallyStopsTheJobsProcesses) {
  const fs::path pidfile = home_ / "child.pid";
  const int64_t id = LaunchDetached(
      Task("t", fmt::format("run: |\n  sleep 300 &\n  echo $! > {}\n  wait\n", pidfile.string())));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  for (int i = 0; i < 200 && Slurp(pidfile).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t child = std::stoi(Slurp(pidfile));
  auto r = Awan(fmt::format("cancel {}", id));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cancel requested"));
  ASSERT_TRUE(WaitState(id, "CANCELLED"));
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {
    gone = !Alive(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST_F(ServerTest, TwoJobsThatDoNotFitTogetherQueue) {
  const std::string env =
      "AWAN_LOCAL_GPUS=H100";  // the server sees one H100 (inherited from the CLI)
  const int64_t a = LaunchDetached(
      Task("a",
           "resources: {accelerators: H100:1}\nrun: echo gpu=$CUDA_VISIBLE_DEVICES; sleep 1\n"),
      env);
  const int64_t b =
      LaunchDetached(Task("b", "resources: {accelerators: H100:1}\nrun: echo second\n"), env);
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  EXPECT_EQ(Job(b)["state"], "PENDING");
  ASSERT_TRUE(WaitState(b, "SUCCEEDED"));
  EXPECT_EQ(Job(a)["state"], "SUCCEEDED");
  EXPECT_GE(Job(b)["started_at"].get<std::string>(), Job(a)["ended_at"].get<std::string>());
  EXPECT_EQ(Awan(fmt::format("logs {}", a)).out, "gpu=0\n");
}

TEST_F(ServerTest, KillDashNineOfTheServerMidJobLosesNothing) {
  const fs::path runs = home_ / "runs";
  const int64_t id = LaunchDetached(
      Task("t", fmt::format("run: |\n  echo started >> {}\n  sleep 4\n  exit 4\n", runs.string())));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  const int64_t dies = LaunchDetached(Task("d", "run: sleep 300\n"));
  ASSERT_TRUE(WaitState(dies, "RUNNING"));
  auto info = awan::client::ReadServerInfo(home_.string());
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(kill(static_cast<pid_t>(info->pid), SIGKILL), 0);
  // While the server is down, one job's process is killed too.
  const auto nodes_pid = [&] {
    // The node's pid is in its folder (written by the wrapper).
    return std::stoi(Slurp(home_ / "jobs" / std::to_string(dies) / "node-0" / "pid"));
  }();
  kill(-nodes_pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Any command starts a new server, which reconciles.
  ASSERT_TRUE(WaitState(id, "FAILED"));
  EXPECT_EQ(Job(id)["exit_code"], 4);   // the real exit status, although the server was away
  EXPECT_EQ(Slurp(runs), "started\n");  // it ran once
  ASSERT_TRUE(WaitState(dies, "FAILED"));
  EXPECT_THAT(Job(dies)["reason"].get<std::string>(), HasSubstr("exit status unknown"));
  auto events = Awan(fmt::format("events {}", id));
  EXPECT_THAT(events.out, HasSubstr("adopted"));
}

TEST_F(ServerTest, AuthAndBadInputGetClearHttpErrors) {
  const int64_t first = LaunchDetached(Task("t", "run: echo kept\n"));
  ASSERT_TRUE(WaitState(first, "SUCCEEDED"));
  auto health = Client("").Call("GET", "/v1/health");
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Client("").Call("GET", "/v1/jobs")->status, 401);
  EXPECT_EQ(Client("wrong").Call("GET", "/v1/jobs")->status, 403);
  auto c = Client(Token());
  EXPECT_EQ(c.Call("GET", "/v1/jobs")->status, 200);
  auto malformed = c.Call("POST", "/v1/jobs", "{not json");
  EXPECT_EQ(malformed->status, 400);
  EXPECT_THAT(malformed->body, HasSubstr("malformed JSON"));
  auto missing = c.Call("POST", "/v1/jobs", "{}");
  EXPECT_EQ(missing->status, 400);
  EXPECT_THAT(missing->body, HasSubstr("task_yaml"));
  auto bad_yaml =
      c.Call("POST", "/v1/jobs",
             J{{"task_yaml", "resources: {acelerators: H100}\n"}, {"source", "x.yaml"}}.dump());
  EXPECT_EQ(bad_yaml->status, 400);
  EXPECT_THAT(bad_yaml->body, HasSubstr("x.yaml:1:13: resources.acelerators"));
  auto syntax =
      c.Call("POST", "/v1/jobs", J{{"task_yaml", "run: [\n"}, {"source", "y.yaml"}}.dump());
  EXPECT_EQ(syntax->status, 400);
  EXPECT_THAT(syntax->body, HasSubstr("YAML syntax error"));
  EXPECT_EQ(c.Call("GET", "/v1/jobs/999")->status, 404);
  EXPECT_EQ(c.Call("POST", "/v1/jobs/999/cancel")->status, 404);
  EXPECT_EQ(c.Call("GET", "/v1/jobs/abc")->status, 400);
  EXPECT_EQ(c.Call("GET", "/v1/nothing")->status, 404);
  auto huge = c.Call("POST", "/v1/jobs", std::string(2 << 20, 'x'));
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(huge->status, 413);
  // Nothing already stored was lost.
  auto list = J::parse(c.Call("GET", "/v1/jobs")->body)["jobs"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["state"], "SUCCEEDED");
  // The CLI says the same, with exit codes.
  auto launch =
      Awan("launch " + std::string(AWAN_SOURCE_DIR) + "/examples/tasks/broken/bad-values.yaml");
  EXPECT_EQ(launch.code, 2);
  EXPECT_THAT(launch.err, HasSubstr("bad-values.yaml:3:12: num_nodes"));
  auto never = Awan("launch " + Task("big", "resources: {accelerators: H100:3}\nrun: x\n"));
  EXPECT_EQ(never.code, 2);
  EXPECT_THAT(never.err, HasSubstr("no provider of the fleet can run this task"));
  EXPECT_THAT(never.err, HasSubstr("no instance has exactly 3 H100 per node"));
  EXPECT_EQ(Awan("status 999").code, 1);
  EXPECT_EQ(Awan("cancel nope").code, 2);
}

// Bytes that are not UTF-8 are an error naming the file, line and column, never an abort; the API
// answers 400 for a target or body that is not UTF-8.
TEST_F(ServerTest, BytesThatAreNotUtf8GetClearErrors) {
  const std::string task = Task("latin1", "name: cafe\nrun: echo caf\xe9\n");
  auto check = Awan("check " + task + " --json");
  EXPECT_EQ(check.code, 1) << check.err;
  EXPECT_THAT(check.err, HasSubstr("latin1.yaml:2:14: the file is not valid UTF-8 (byte 0xE9)"));
  auto launch = Awan("launch " + task);
  EXPECT_EQ(launch.code, 2) << launch.err;
  EXPECT_THAT(launch.err, HasSubstr("not valid UTF-8"));
  const int64_t ok = LaunchDetached(Task("ok", "run: echo fine\n"));
  ASSERT_TRUE(WaitState(ok, "SUCCEEDED"));
  auto c = Client(Token());
  auto target = c.Call("GET", "/v1/jobs/\xff\xfe");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->status, 400);
  EXPECT_THAT(target->body, HasSubstr("not valid UTF-8"));
  auto body = c.Call("POST", "/v1/jobs", "{\"task_yaml\": \"run: echo \xff\"}");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->status, 400);
  EXPECT_THAT(body->body, HasSubstr("malformed JSON body"));
  EXPECT_EQ(J::parse(c.Call("GET", "/v1/jobs")->body)["jobs"].size(), 1u);
}

// Numbers in requests and files are range-checked: a clear 400 or exit 2, never an overflow.
TEST_F(ServerTest, OutOfRangeNumbersAreRefusedWithTheRange) {
  ASSERT_EQ(Awan("server start").code, 0);
  auto c = Client(Token());
  for (const char* bad : {"1e308", "-5", "0", "\"soon\""}) {
    auto r = c.Call("POST", "/v1/sim/outage",
                    fmt::format("{{\"provider\": \"aws\", \"for_seconds\": {}}}", bad));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_THAT(r->body, HasSubstr("at most 31536000")) << bad;
  }
  auto cli = Awan("sim outage aws --for 1e308");
  EXPECT_EQ(cli.code, 2);
  EXPECT_THAT(cli.err, HasSubstr("at most 365d"));
  // Nothing went down.
  const J books = J::parse(c.Call("GET", "/v1/sim/books?provider=aws")->body);
  EXPECT_FALSE(books.empty());
  const int64_t job =
      LaunchDetached(Task("n", "resources: {accelerators: H100:8}\nrun: echo up\n"));
  EXPECT_TRUE(WaitState(job, "SUCCEEDED"));
  const std::string fleet = Task("huge-fleet",
                                 "start: 2026-01-01\npools:\n  - {provider: aws, "
                                 "region: us-east-1, accelerator: H100, nodes: "
                                 "2147483648}\n");
  auto simulate = Awan("simulate --fleet " + fleet + " --synthetic 10");
  EXPECT_EQ(simulate.code, 2) << simulate.err;
  EXPECT_THAT(simulate.err,
              HasSubstr("pools[0].nodes: must be a number of at least 1 and at most"));
}

// Sends raw bytes to the server and returns what it answers (until it closes, or 10 s).
std::string RawExchange(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
    answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return answer;
}

int ServerPort(const fs::path& home) {
  auto info = awan::client::ReadServerInfo(home.string());
  return info.ok() ? std::stoi(info->url.substr(info->url.rfind(':') + 1)) : 0;
}

// Idle connections cannot starve the API: with few descriptors and more idle connections than it
// can hold, the server neither spins nor stops answering; oversized request lines and headers get
// 414 and 431.
TEST_F(ServerTest, IdleConnectionsCannotStarveTheApi) {
  auto start = awan::testing::RunCommand(fmt::format(
      "bash -c 'ulimit -n 256 && env AWAN_HOME={} {} server start'", home_.string(), AWAN_BINARY));
  ASSERT_EQ(start.code, 0) << start.err;
  const int port = ServerPort(home_);
  const pid_t server = static_cast<pid_t>(awan::client::ReadServerInfo(home_.string())->pid);
  std::vector<int> idle;
  for (int i = 0; i < 600; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      idle.push_back(fd);
    } else {
      close(fd);
    }
  }
  EXPECT_GT(idle.size(), 256u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto cpu = [&] {
    std::istringstream stat(Slurp(fmt::format("/proc/{}/stat", server)));
    std::string field;
    int64_t ticks = 0;
    for (int i = 1; i <= 15 && stat >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stoll(field);
    }
    return ticks;
  };
  const int64_t before = cpu();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double busy =
      static_cast<double>(cpu() - before) / static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_LT(busy, 0.5) << "the server spun on its accept loop";
  auto health = Client("").Call("GET", "/v1/health");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Client(Token()).Call("GET", "/v1/jobs")->status, 200);
  for (int fd : idle) close(fd);

  const std::string long_target = RawExchange(
      port, "GET /v1/jobs?x=" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(long_target, HasSubstr("HTTP/1.1 414"));
  const std::string big_header = RawExchange(
      port, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n");
  EXPECT_THAT(big_header, HasSubstr("HTTP/1.1 431"));
  EXPECT_EQ(Client("").Call("GET", "/v1/health")->status, 200);
}

// Through the real server: a wrong method gets 405 and Allow, HEAD the headers without a body.
TEST_F(ServerTest, WrongMethodsGet405AndHeadGetsHeadersOnly) {
  ASSERT_EQ(Awan("server start").code, 0);
  const int port = ServerPort(home_);
  const std::string del = RawExchange(
      port, fmt::format("DELETE /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n"
                        "Connection: close\r\n\r\n",
                        Token()));
  EXPECT_THAT(del, HasSubstr("HTTP/1.1 405"));
  EXPECT_THAT(del, HasSubstr("Allow: POST, GET, HEAD"));
  const std::string head =
      RawExchange(port, "HEAD /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("\"status\"")));  // no body
}

// A task whose cpus no offering of the fleet matches is refused at submission with the reason
// (it was accepted and failed at once); asking for part of this machine's CPUs runs here.
TEST_F(ServerTest, CpusNoOfferingMatchesAreRefusedAtSubmission) {
  auto huge = Awan("launch -d " + Task("huge", "resources: {cpus: 5000}\nrun: echo x\n"));
  EXPECT_EQ(huge.code, 2) << huge.err;
  EXPECT_THAT(huge.err, HasSubstr("no provider of the fleet can run this task"));
  EXPECT_THAT(huge.err, HasSubstr("needs 5000 CPUs"));
  const int64_t part = LaunchDetached(Task("part", "resources: {cpus: 1}\nrun: echo part\n"));
  ASSERT_TRUE(WaitState(part, "SUCCEEDED"));
  EXPECT_EQ(Job(part)["placement"]["provider"], "local");
  EXPECT_EQ(J::parse(Awan("status --json").out).size(), 1u);
}

TEST_F(ServerTest, ServerStartStopAndStatus) {
  EXPECT_EQ(Awan("server status").code, 1);
  auto start = Awan("server start");
  EXPECT_EQ(start.code, 0) << start.err;
  EXPECT_THAT(start.out, HasSubstr("started at http://127.0.0.1:"));
  EXPECT_THAT(Awan("server start").out, HasSubstr("already running"));
  EXPECT_EQ(Awan("server status").code, 0);
  auto stop = Awan("server stop");
  EXPECT_THAT(stop.out, HasSubstr("stopped"));
  EXPECT_EQ(J::parse(Awan("server status --json").out)["running"], false);
}

// A deleted, emptied or corrupt store is refused at start with the reason and the way out, said
// by the CLI at once; a job folder is never reused by a new job.
TEST_F(ServerTest, ALostOrCorruptStoreIsRefusedAtOnceAndJobFoldersAreNeverReused) {
  const std::string task = Task("ok", "run: echo first-job\n");
  const int64_t first = LaunchDetached(task);
  ASSERT_TRUE(WaitState(first, "SUCCEEDED"));
  ASSERT_EQ(Awan("server stop").code, 0);
  for (const char* suffix : {"", "-wal", "-shm"})
    fs::remove(home_ / (std::string("awan.db") + suffix));
  auto deleted = Awan("status");
  EXPECT_NE(deleted.code, 0);
  EXPECT_THAT(deleted.err, HasSubstr("could not start"));
  EXPECT_THAT(deleted.err, HasSubstr("jobs holds job folders up to 1"));
  EXPECT_THAT(deleted.err, HasSubstr("jobs.old"));
  EXPECT_TRUE(fs::exists(home_ / "jobs" / "1" / "job.log"));  // nothing of the old job was touched

  std::ofstream(home_ / "awan.db", std::ios::trunc).close();  // emptied
  EXPECT_THAT(Awan("status").err, HasSubstr("jobs holds job folders up to 1"));

  fs::remove(home_ / "awan.db");
  std::ofstream(home_ / "awan.db") << std::string(8192, 'x');  // not a database at all
  auto corrupt = Awan("status");
  EXPECT_NE(corrupt.code, 0);
  EXPECT_THAT(corrupt.err, HasSubstr("the store is corrupt"));
  EXPECT_THAT(corrupt.err, HasSubstr("Restore it from a backup"));

  // Moved aside as told: a fresh store starts, and job 1 is a new folder.
  fs::remove(home_ / "awan.db");
  fs::rename(home_ / "jobs", home_ / "jobs.old");
  const int64_t again = LaunchDetached(Task("two", "run: echo second-store\n"));
  EXPECT_EQ(again, 1);
  ASSERT_TRUE(WaitState(again, "SUCCEEDED"));
  EXPECT_THAT(Slurp(home_ / "jobs" / "1" / "job.log"), HasSubstr("second-store"));
  EXPECT_THAT(Slurp(home_ / "jobs.old" / "1" / "job.log"), HasSubstr("first-job"));
}

// The auto-started server holds none of the CLI's descriptors: a pipe the caller reads reaches EOF
// when the CLI exits, although the server keeps running. An existing home keeps its mode.
TEST_F(ServerTest, TheServerInheritsNoDescriptorsAndLeavesAnExistingHomesModeAlone) {
  fs::permissions(home_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  auto r = awan::testing::RunCommand(
      fmt::format("timeout 20 bash -c 'env AWAN_HOME={} {} server start 7>&1 | cat'",
                  home_.string(), AWAN_BINARY));
  EXPECT_EQ(r.code, 0) << "the pipe never reached EOF (exit 124: timed out): " << r.err;
  EXPECT_THAT(r.out, HasSubstr("started at"));
  EXPECT_EQ(Awan("server status").code, 0);
  EXPECT_EQ(fs::status(home_).permissions() & fs::perms::others_read, fs::perms::others_read);
  EXPECT_THAT(Slurp(home_ / "server.log"), HasSubstr("can be read by other users"));
}

// Needs a GPU: skipped where nvidia-smi finds none. Run by hand on a GPU machine
// (docs/performance.md says when it last ran).
TEST_F(ServerTest, GpuJobAskingForOneGpuSeesExactlyOneDevice) {
  auto smi = awan::testing::RunCommand("nvidia-smi --query-gpu=name --format=csv,noheader");
  if (smi.code != 0 || smi.out.empty())
    GTEST_SKIP() << "no GPU found (nvidia-smi); skipping the GPU check";
  if (awan::testing::RunCommand("python3 -c 'import torch'").code != 0)
    GTEST_SKIP() << "PyTorch not installed";
  // "NVIDIA H100 80GB HBM3" → ask for "H100".
  std::istringstream words(smi.out.substr(0, smi.out.find('\n')));
  std::string word, model;
  while (words >> word) {
    if (word != "NVIDIA" && model.empty()) model = word;
  }
  const std::string task = Task("gpu", fmt::format(R"TASK(name: cuda-check
resources: {{accelerators: {}:1}}
run: |
  echo "visible=$CUDA_VISIBLE_DEVICES"
  python3 -c "import torch; x = torch.ones(1024, 1024, device='cuda'); print('cuda_devices', torch.cuda.device_count(), 'sum', int((x @ x).sum().item()))"
)TASK",
                                                   model));
  auto r = Awan("launch " + task);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("cuda_devices 1 sum 1073741824"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("visible=[0-9]+\n"));
}

// Issue 4's acceptance test, on the embedded default fleet: the cheapest region has no capacity and
// the second choice's provider is in outage, so the job lands on the third choice; `awan events`
// shows both failed attempts with their reasons.
TEST_F(ServerTest, FailoverLandsOnTheThirdChoice) {
  // Fill coreweave's US-EAST-04 (4 emulated H100 nodes) with a long job pinned there.
  const int64_t filler = LaunchDetached(Task("filler", R"(num_nodes: 4
resources: {accelerators: H100:8, infra: coreweave/US-EAST-04}
run: sleep 60
)"));
  ASSERT_TRUE(WaitState(filler, "RUNNING"));
  auto outage = Awan("sim outage aws");
  ASSERT_EQ(outage.code, 0) << outage.err;
  const std::string task = Task("train", R"(name: train
resources:
  accelerators: H100:8
  ordered:
    - infra: coreweave/US-EAST-04
    - infra: aws
    - infra: gcp
run: echo "landed on $AWAN_PROVIDER"
)");
  auto r = Awan("launch " + task);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("landed on gcp"));
  const int64_t id = filler + 1;
  const J job = Job(id);
  EXPECT_EQ(job["placement"]["provider"], "gcp");
  auto events = Awan(fmt::format("events {}", id));
  EXPECT_THAT(
      events.out,
      HasSubstr(
          "attempt 1: coreweave US-EAST-04 gd-8xh100ib-i128: capacity_unavailable: 0 free of 4"));
  EXPECT_THAT(
      events.out,
      HasSubstr("attempt 2: aws us-east-1/us-east-1a p5.48xlarge: provider_down: aws is down"));
  EXPECT_THAT(events.out,
              HasSubstr("attempt 3: gcp us-central1/us-central1-a a3-highgpu-8g: provisioned"));
  // No allocation leaked: after the filler is cancelled and every job has ended, nothing is held.
  ASSERT_EQ(Awan(fmt::format("cancel {}", filler)).code, 0);
  ASSERT_TRUE(WaitState(filler, "CANCELLED"));
  bool released = false;
  for (int i = 0; i < 200 && !released; ++i) {
    released = J::parse(Awan("sim books --json").out).size() > 0;
    int held = 0;
    for (const auto& b : J::parse(Awan("sim books --json").out)) held += b["used"].get<int>();
    released = released && held == 0;
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(released);
}

TEST_F(ServerTest, APreemptedJobIsQueuedAgainAndPlacedAnew) {
  const int64_t id =
      LaunchDetached(Task("spot", R"(resources: {accelerators: H100:8, infra: coreweave}
run: echo "run on $AWAN_PROVIDER"; sleep 30
)"));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  const J job = Job(id);
  ASSERT_TRUE(job.contains("nodes")) << job.dump();
  ASSERT_EQ(job["nodes"].size(), 1u) << job.dump();
  const std::string host = job["nodes"][0].value("host", "");
  auto preempt = Awan("sim preempt " + host);
  ASSERT_EQ(preempt.code, 0) << preempt.err;
  // PREEMPTED → RECOVERING → PENDING, then placed again on a new allocation.
  bool replaced = false;
  for (int i = 0; i < 200 && !replaced; ++i) {
    const J now = Job(id);
    replaced = now.value("state", "") == "RUNNING" && now.contains("nodes") &&
               !now["nodes"].empty() && now["nodes"][0].value("host", host) != host;
    if (!replaced) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(replaced);
  auto events = Awan(fmt::format("events {}", id)).out;
  EXPECT_THAT(events, HasSubstr("RUNNING → PREEMPTED"));
  EXPECT_THAT(events, HasSubstr("RECOVERING → PENDING: queued again after preemption"));
  EXPECT_THAT(Awan("sim preempt no-such-host").err, HasSubstr("no emulated node 'no-such-host'"));
  ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  ASSERT_TRUE(WaitState(id, "CANCELLED"));
}

// job_recovery's strategies: EAGER_NEXT_REGION is placed again away from the region it lost,
// FAILOVER in it first. Each start is told its recovery count; the job object carries it.
TEST_F(ServerTest, AManagedJobIsPlacedAgainWhereItsStrategySays) {
  const auto task = [&](const std::string& strategy) {
    return Task(strategy, fmt::format(R"(resources:
  accelerators: H100:8
  job_recovery: {}
  any_of: [{{infra: coreweave/US-EAST-04}}, {{infra: aws/us-east-1}}]
run: echo "start $AWAN_RECOVERIES on $AWAN_PROVIDER"; sleep 60
)",
                                      strategy));
  };
  const auto preempt_and_wait = [&](int64_t id, int recoveries) {
    const J before = Job(id);
    const std::string host = before["nodes"][0].value("host", "");
    auto preempt = Awan("sim preempt " + host);
    EXPECT_EQ(preempt.code, 0) << preempt.err;
    J now;
    for (int i = 0; i < 200; ++i) {
      now = Job(id);
      if (now.value("state", "") == "RUNNING" && now.value("recoveries", 0) == recoveries &&
          now.contains("nodes") && now["nodes"][0].value("host", host) != host) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return now;
  };
  const int64_t eager = LaunchDetached(task("EAGER_NEXT_REGION"));
  ASSERT_TRUE(WaitState(eager, "RUNNING"));
  EXPECT_EQ(Job(eager)["recoveries"], 0);
  EXPECT_EQ(Job(eager)["placement"]["provider"], "coreweave");  // the cheaper
  J j = preempt_and_wait(eager, 1);
  EXPECT_EQ(j["recoveries"], 1) << j.dump();
  EXPECT_EQ(j["placement"]["provider"], "aws") << j.dump();
  j = preempt_and_wait(eager, 2);
  EXPECT_EQ(j["recoveries"], 2) << j.dump();
  EXPECT_EQ(j["placement"]["provider"], "coreweave") << j.dump();
  const std::string events = Awan(fmt::format("events {}", eager)).out;
  EXPECT_THAT(events, HasSubstr("recovery 1: placed on aws us-east-1"));
  EXPECT_THAT(events, HasSubstr("recovery 2: placed on coreweave US-EAST-04"));
  EXPECT_THAT(events, HasSubstr("strategy EAGER_NEXT_REGION"));
  for (int i = 0; i < 100 && Awan(fmt::format("logs {}", eager)).out.find("start 2 on coreweave") ==
                                 std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string logs = Awan(fmt::format("logs {}", eager)).out;
  EXPECT_THAT(logs, HasSubstr("start 0 on coreweave"));
  EXPECT_THAT(logs, HasSubstr("start 1 on aws"));
  EXPECT_THAT(logs, HasSubstr("start 2 on coreweave"));
  EXPECT_THAT(Awan("status").out, HasSubstr("RECOV"));

  const int64_t failover = LaunchDetached(task("FAILOVER"));
  ASSERT_TRUE(WaitState(failover, "RUNNING"));
  j = preempt_and_wait(failover, 1);
  EXPECT_EQ(j["recoveries"], 1) << j.dump();
  EXPECT_EQ(j["placement"]["provider"], "coreweave") << j.dump();
  EXPECT_EQ(j["placement"]["region"], "US-EAST-04") << j.dump();
  for (int64_t id : {eager, failover}) ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  ASSERT_TRUE(WaitState(eager, "CANCELLED"));
  ASSERT_TRUE(WaitState(failover, "CANCELLED"));
}

// The README's managed training job: checkpoints in a bucket of the local store, preempted twice
// (SIGKILL, wherever it is in a step or a checkpoint write), placed on the other provider each
// time, and finished from its last checkpoint — its own step log proves no step before a
// checkpoint ran twice, and a corrupt checkpoint would end it.
TEST_F(ServerTest, AManagedJobSurvivesTwoPreemptionsFromItsCheckpointBucket) {
  const int64_t id = LaunchDetached(TrainTask("train", {}));
  const auto wait_log = [&](const std::string& text) { return WaitLog(id, text); };
  ASSERT_TRUE(wait_log("start 0 on coreweave")) << Awan(fmt::format("logs {}", id)).out;
  ASSERT_TRUE(wait_log("checkpoint step-000010"));
  // A bucket in use is not deleted.
  auto refused = Awan("storage delete awan-demo-ckpt-demo");
  EXPECT_NE(refused.code, 0);
  EXPECT_THAT(refused.err, HasSubstr(fmt::format("attached by job(s) {}", id)));
  ASSERT_EQ(Awan(fmt::format("sim preempt --job {}", id)).code, 0);
  ASSERT_TRUE(wait_log("start 1 on aws"));
  ASSERT_TRUE(wait_log("start 1 on aws: resuming after step"));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_EQ(Awan(fmt::format("sim preempt --job {}", id)).code, 0);
  ASSERT_TRUE(wait_log("start 2 on coreweave"));
  ASSERT_TRUE(WaitState(id, "SUCCEEDED", 60)) << Awan(fmt::format("logs {}", id)).out;
  const J job = Job(id);
  EXPECT_EQ(job["recoveries"], 2);
  EXPECT_EQ(job["restarts_on_errors"], 0);
  const std::string logs = Awan(fmt::format("logs {}", id)).out;
  EXPECT_THAT(logs, HasSubstr("done: 120 steps over 3 start(s)"));
  EXPECT_THAT(logs, HasSubstr("none before a checkpoint did"));
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("corrupt")));
  // The bucket outlives the job (persistent by default) and holds its checkpoints.
  const J buckets = J::parse(Awan("storage ls --json").out)["buckets"];
  ASSERT_EQ(buckets.size(), 1u) << buckets.dump();
  EXPECT_EQ(buckets[0]["name"], "awan-demo-ckpt-demo");
  EXPECT_GE(buckets[0]["objects"].get<int>(), 26);  // 24 checkpoints, latest, steps.log
  EXPECT_TRUE(fs::exists(home_ / "buckets/awan-demo-ckpt-demo/step-000120.json"));
  EXPECT_EQ(Awan("storage delete awan-demo-ckpt-demo").code, 0);
  EXPECT_THAT(Awan("storage ls").out, HasSubstr("No buckets yet"));

  // persistent: false — the bucket goes with the job.
  const int64_t scratch = LaunchDetached(Task("scratch", R"(file_mounts:
  /scratch: {name: scratch-bucket, persistent: false}
run: echo kept-for-the-job > $AWAN_MOUNTS/scratch/f; cat $AWAN_MOUNTS/scratch/f
)"));
  ASSERT_TRUE(WaitState(scratch, "SUCCEEDED"));
  EXPECT_THAT(Awan(fmt::format("logs {}", scratch)).out, HasSubstr("kept-for-the-job"));
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !fs::exists(home_ / "buckets/scratch-bucket");
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone);
  EXPECT_THAT(Awan(fmt::format("events {}", scratch)).out,
              HasSubstr("bucket scratch-bucket (persistent: false) deleted with the job"));
}

// The same job with its checkpoints in an S3 bucket (a real S3-compatible server on loopback),
// through a MOUNT_CACHED cache written back every 0.3 s: a preemption loses the cache, the next
// start resumes from what reached the bucket — never from a checkpoint that did not arrive whole.
TEST_F(ServerTest, AManagedJobResumesFromAnS3BucketThroughItsCache) {
  awan::testing::S3Server s3;
  if (!s3.Available()) GTEST_SKIP() << s3.Why();
  std::ofstream(home_ / "config.yaml") << fmt::format(R"(providers:
  - {{name: local, kind: local}}
  - {{name: aws, kind: sim, emulates: aws, default_capacity: 4, delay_ms: [100, 200]}}
  - {{name: coreweave, kind: sim, emulates: coreweave, default_capacity: 4, delay_ms: [100, 200]}}
storage:
  write_back_seconds: 0.3
  s3: {{endpoint: "{}", access_key_id_env: AWAN_TEST_S3_KEY, secret_access_key_env: AWAN_TEST_S3_SECRET}}
)",
                                                      s3.endpoint());
  const std::string env =
      fmt::format("AWAN_TEST_S3_KEY={} AWAN_TEST_S3_SECRET={}", awan::testing::S3Server::kKeyId,
                  awan::testing::S3Server::kSecret);
  const int64_t id = LaunchDetached(
      TrainTask("train-s3", {{"store: local", "store: s3"}, {"mode: MOUNT", "mode: MOUNT_CACHED"}}),
      env);
  const auto wait_log = [&](const std::string& text) { return WaitLog(id, text); };
  ASSERT_TRUE(wait_log("checkpoint step-000020")) << Awan(fmt::format("logs {}", id)).out;
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a write-back or two
  ASSERT_EQ(Awan(fmt::format("sim preempt --job {}", id), env).code, 0);
  const auto story = [&] {
    return Awan(fmt::format("logs {}", id)).out + Awan(fmt::format("events {}", id)).out +
           Slurp(home_ / "server.log");
  };
  ASSERT_TRUE(wait_log("start 1 on aws: resuming after step")) << story();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_EQ(Awan(fmt::format("sim preempt --job {}", id), env).code, 0);
  ASSERT_TRUE(wait_log("start 2 on coreweave: resuming after step")) << story();
  ASSERT_TRUE(WaitState(id, "SUCCEEDED", 60)) << Awan(fmt::format("logs {}", id)).out;
  const std::string logs = Awan(fmt::format("logs {}", id)).out;
  EXPECT_THAT(logs, HasSubstr("done: 120 steps over 3 start(s)"));
  EXPECT_THAT(logs, HasSubstr("none before a checkpoint did"));
  // Each start resumed from a checkpoint that reached the bucket (step > 0 after the first).
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("start 1 on aws: resuming after step 0 ")));
  J buckets;
  for (int i = 0; i < 50; ++i) {  // the last write-back follows the job's end
    buckets = J::parse(Awan("storage ls --json", env).out)["buckets"];
    if (!buckets.empty() && buckets[0].value("objects", 0) >= 14) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(buckets.size(), 1u) << buckets.dump();
  EXPECT_EQ(buckets[0]["store"], "s3");
  EXPECT_EQ(buckets[0]["name"], "awan-demo-ckpt-demo");
  EXPECT_GE(buckets[0]["objects"].get<int>(), 14);  // 12 checkpoints, latest, steps.log
  EXPECT_EQ(Awan("storage delete awan-demo-ckpt-demo --store s3", env).code, 0);
}

// secrets: in the node's environment, and nowhere else — not in `awan check` (YAML or JSON), the
// job object, its events, the job list or the server's log.
TEST_F(ServerTest, SecretsReachTheNodeAndAreNeverShown) {
  const std::string task = Task("secret", R"TASK(name: uses-secrets
envs: {PLAIN: visible-value}
secrets:
  HF_TOKEN: null
  API_KEY: sk-file-value-1234
run: |
  echo "token reversed: $(printf %s "$HF_TOKEN" | rev)"
  echo "key reversed: $(printf %s "$API_KEY" | rev)"
)TASK");
  const std::vector<std::string> values = {"hf-launch-value-5678", "sk-file-value-1234"};
  auto check = Awan("check " + task);
  ASSERT_EQ(check.code, 0) << check.err;
  auto check_json = Awan("check --json " + task);
  EXPECT_THAT(check.out, HasSubstr("HF_TOKEN: ~"));
  EXPECT_THAT(check_json.out, HasSubstr("\"API_KEY\""));
  // Without the launch-time value: refused, naming the secret (and no value).
  auto refused = Awan("launch -d " + task);
  EXPECT_NE(refused.code, 0);
  EXPECT_THAT(refused.err, HasSubstr("secrets.HF_TOKEN has no value"));
  const int64_t id = LaunchDetached("--secret HF_TOKEN " + task, "HF_TOKEN=hf-launch-value-5678");
  ASSERT_TRUE(WaitState(id, "SUCCEEDED")) << Awan(fmt::format("logs {}", id)).out;
  const std::string logs = Awan(fmt::format("logs {}", id)).out;
  EXPECT_THAT(logs, HasSubstr("token reversed: 8765-eulav-hcnual-fh"));
  EXPECT_THAT(logs, HasSubstr("key reversed: 4321-eulav-elif-ks"));
  const std::string everything =
      check.out + check.err + check_json.out + refused.err +
      Awan(fmt::format("status {} --json", id)).out + Awan("status --json").out +
      Awan(fmt::format("events {} --json", id)).out + Awan(fmt::format("events {}", id)).out +
      Slurp(home_ / "server.log");
  for (const std::string& v : values) EXPECT_THAT(everything, ::testing::Not(HasSubstr(v))) << v;
  EXPECT_THAT(Awan("launch -d --secret NOT_SET_ANYWHERE " + task).err,
              HasSubstr("NOT_SET_ANYWHERE is not set in your environment"));
}

TEST_F(ServerTest, ANodeSeesTheAcceleratorsOfThePlacementChosen) {
  // any_of picks the cheaper second alternative (aws p5.4xlarge, 1 × H100, $6.88/h) over the first
  // (coreweave, 8 × H200, $50.44/h): the node must see 1 GPU, not the first alternative's 8.
  auto r = Awan("launch " + Task("gpus", R"(resources:
  any_of:
    - {accelerators: H200:8, infra: coreweave}
    - {accelerators: H100:1, infra: aws}
run: echo "gpus=$CUDA_VISIBLE_DEVICES"
)"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Job(1)["placement"]["instance_type"], "p5.4xlarge");
  EXPECT_THAT(r.out, HasSubstr("gpus=0\n"));
}

TEST_F(ServerTest, WhenEveryPlacementFailsTheUserGetsTheAttempts) {
  ASSERT_EQ(Awan("sim outage coreweave").code, 0);
  ASSERT_EQ(Awan("sim outage aws/us-east-1").code, 0);
  auto r = Awan("launch " + Task("t", R"(resources:
  accelerators: H100:8
  ordered:
    - infra: coreweave
    - infra: aws/us-east-1
run: echo never
)"));
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("no placement could be provisioned"));
  EXPECT_THAT(r.err, HasSubstr("provider_down"));
  EXPECT_THAT(r.err, HasSubstr("coreweave / US-EAST-04 / - / gd-8xh100ib-i128"));
  EXPECT_THAT(r.err, HasSubstr("region us-east-1 is down"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("never")));
}

// Two real sshd on loopback ports stand for two SSH hosts (an `ssh` provider of the fleet).
// The loopback port of an SSH provider's host label ("127.0.0.1:PORT").
int PortOf(const std::string& host) { return std::stoi(host.substr(host.rfind(':') + 1)); }

// An SSH host goes away: its sshd stops, and so does the connection awan keeps open to it.
void StopSshHost(std::unique_ptr<awan::testing::SshdServer>& host, int port) {
  host.reset();
  awan::testing::RunCommand(fmt::format(
      "ssh -o ControlPath=/tmp/awan-ssh-%C -O exit -p {} root@127.0.0.1 2>/dev/null", port));
}

class SshTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    host1_ = std::make_unique<awan::testing::SshdServer>((home_ / "keys").string());
    host2_ = std::make_unique<awan::testing::SshdServer>((home_ / "keys").string());
    if (!host1_->Available() || !host2_->Available())
      GTEST_SKIP() << host1_->Why() << host2_->Why();
    WriteConfig(host1_->user_key(), host1_->port(), host2_->port());
  }
  // `extra`: more fields of the ssh provider's entry, e.g. "node_lost_after_s: 2".
  void WriteConfig(const std::string& key, int port1, int port2, const std::string& extra = "") {
    std::ofstream(home_ / "config.yaml")
        << fmt::format(R"(providers:
  - {{name: local, kind: local}}
  - name: lab
    kind: ssh
    user: root
    key: {}
    remote_root: {}
    {}
    hosts:
      - {{host: 127.0.0.1, port: {}, accelerator: H100, accelerator_count: 8, cpus: 2, memory_gib: 8}}
      - {{host: 127.0.0.1, port: {}, accelerator: H100, accelerator_count: 8, cpus: 2, memory_gib: 8}}
)",
                       key, (home_ / "remote").string(), extra, port1, port2);
  }
  // Launches a long job on the SSH provider and waits until it runs: its id, host label and port.
  std::tuple<int64_t, std::string, int> RunningOnAHost(const std::string& run) {
    const int64_t id =
        LaunchDetached(Task("long", "resources: {accelerators: H100:8}\nrun: " + run + "\n"));
    EXPECT_TRUE(WaitState(id, "RUNNING"));
    const J job = Job(id);
    const std::string host = job.contains("nodes") ? job["nodes"][0].value("host", "") : "";
    return {id, host, host.empty() ? 0 : PortOf(host)};
  }
  std::unique_ptr<awan::testing::SshdServer> host1_, host2_;
};

// A "host" that accepts SSH connections and never says a word: provisioning on it hangs until the
// connect timeout. Meanwhile the server starts, answers, runs a job on another provider and cancels
// the stuck one.
// A "host" on a loopback port that accepts TCP connections and never says a word (port 0: any
// free one).
class MuteHost {
 public:
  explicit MuteHost(int port = 0) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    const int on = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ok_ = bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          listen(listener_, 16) == 0;
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!done_) {
        pollfd p{listener_, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) held_.push_back(accept(listener_, nullptr, nullptr));
      }
    });
  }
  ~MuteHost() {
    done_ = true;
    thread_.join();
    for (int fd : held_) close(fd);
    close(listener_);
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }

 private:
  int listener_ = -1, port_ = 0;
  bool ok_ = false;
  std::atomic<bool> done_{false};
  std::vector<int> held_;
  std::thread thread_;
};

TEST_F(ServerTest, AnSshHostThatNeverAnswersDelaysNothingElse) {
  MuteHost mute;
  ASSERT_TRUE(mute.ok());
  const int port = mute.port();
  std::ofstream(home_ / "dummy-key") << "not a key\n";
  std::ofstream(home_ / "config.yaml") << fmt::format(R"(providers:
  - {{name: local, kind: local}}
  - name: mute
    kind: ssh
    user: root
    key: {}
    connect_timeout_s: 60
    hosts: [{{host: 127.0.0.1, port: {}, cpus: 2, memory_gib: 2}}]
)",
                                                      (home_ / "dummy-key").string(), port);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(Awan("server start").code, 0);  // its check of the mute host runs beside the start
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  const int64_t stuck =
      LaunchDetached(Task("stuck", "resources: {infra: mute}\nrun: echo never\n"));
  auto local = Awan("launch " + Task("local", "resources: {infra: local}\nrun: echo still here\n"));
  EXPECT_EQ(local.code, 0) << local.err;
  EXPECT_THAT(local.out, HasSubstr("still here"));
  EXPECT_EQ(Job(stuck)["state"], "PENDING");  // its provisioning still hangs
  ASSERT_EQ(Awan(fmt::format("cancel {}", stuck)).code, 0);
  EXPECT_TRUE(WaitState(stuck, "CANCELLED", 10));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(55))
      << "everything above waited for the mute host";
}

TEST_F(SshTest, TwoNodeGpuJobRunsOnTwoHostsWithLogsAndExitCodes) {
  auto r = Awan("launch " + Task("two", R"TASK(name: two-hosts
num_nodes: 2
resources: {accelerators: H100:8}
run: |
  echo "rank $AWAN_NODE_RANK of $AWAN_NUM_NODES via $AWAN_PROVIDER gpus=$CUDA_VISIBLE_DEVICES in $(basename $PWD)"
  if [ "$AWAN_NODE_RANK" = 1 ]; then exit 7; fi
)TASK"));
  EXPECT_EQ(r.code, 7) << r.err;
  const J job = Job(1);
  EXPECT_EQ(job["state"], "FAILED");
  EXPECT_EQ(job["exit_code"], 7);
  EXPECT_EQ(job["placement"]["provider"], "lab");
  EXPECT_THAT(job["reason"].get<std::string>(), HasSubstr("node 1 exited with code 7"));
  ASSERT_EQ(job["nodes"].size(), 2u);
  EXPECT_NE(job["nodes"][0]["host"], job["nodes"][1]["host"]);  // two hosts, one node each
  const std::string logs = Awan("logs 1").out;
  EXPECT_THAT(logs, HasSubstr("(rank 0) rank 0 of 2 via lab gpus=0,1,2,3,4,5,6,7 in work"));
  EXPECT_THAT(logs, HasSubstr("(rank 1) rank 1 of 2 via lab"));
  // The work ran on the hosts, in their own folders.
  EXPECT_TRUE(fs::exists(home_ / "remote" / "lab-job1-node0" / "exit_code"));
  EXPECT_EQ(Slurp(home_ / "remote" / "lab-job1-node1" / "exit_code"), "7\n");
}

TEST_F(SshTest, CancelKillsTheRemoteProcessGroup) {
  const fs::path pidfile = home_ / "remote-child.pid";
  const int64_t id = LaunchDetached(Task("long", fmt::format(R"(resources: {{accelerators: H100:8}}
run: |
  sleep 300 &
  echo $! > {}
  wait
)",
                                                             pidfile.string())));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  for (int i = 0; i < 300 && Slurp(pidfile).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t child = std::stoi(Slurp(pidfile));
  ASSERT_TRUE(Alive(child));
  ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  ASSERT_TRUE(WaitState(id, "CANCELLED"));
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {
    gone = !Alive(child);  // checked on the host (here, the same machine as the sshd)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

// A host that stops answering while it runs a node is lost after node_lost_after_s: the provider
// reports it, and the job takes the same path as a spot interruption — stopped, released, queued
// again — and runs on the host that answers.
TEST_F(SshTest, ALostHostsJobIsQueuedAgainAndRunsOnAnotherHost) {
  WriteConfig(host1_->user_key(), host1_->port(), host2_->port(),
              "connect_timeout_s: 2\n    node_lost_after_s: 2");
  const auto [id, first, port] = RunningOnAHost("sleep 20");
  ASSERT_NE(port, 0);
  StopSshHost(port == host1_->port() ? host1_ : host2_, port);
  bool moved = false;
  std::string now_on;
  for (int i = 0; i < 300 && !moved; ++i) {
    const J job = Job(id);
    if (job.value("state", "") == "RUNNING" && job.contains("nodes") && !job["nodes"].empty()) {
      now_on = job["nodes"][0].value("host", "");
      moved = now_on != first;
    }
    if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(moved) << "still on " << now_on << "\n" << Awan(fmt::format("events {}", id)).out;
  const std::string events = Awan(fmt::format("events {}", id)).out;
  EXPECT_THAT(events,
              HasSubstr(fmt::format("RUNNING → PREEMPTED: lab: host {} unreachable", first)));
  EXPECT_THAT(events, HasSubstr("its node is lost"));
  EXPECT_THAT(events, HasSubstr("RECOVERING → PENDING: queued again after preemption"));
  ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  EXPECT_TRUE(WaitState(id, "CANCELLED"));
}

// After a restart, the nodes of a host that stopped answering while the server was down are
// adopted without waiting for it: the new server's loop asks the host off the loop, and a local job
// runs meanwhile. (The connect timeout is 60 s; the whole restart and the local job take far less.)
TEST_F(SshTest, ARestartDoesNotWaitForAHostThatStoppedAnswering) {
  WriteConfig(host1_->user_key(), host1_->port(), host2_->port(),
              "connect_timeout_s: 60\n    node_lost_after_s: 600");
  const auto [id, host, port] = RunningOnAHost("sleep 300");
  ASSERT_NE(port, 0);
  ASSERT_EQ(Awan("server stop").code, 0);
  // The host goes silent: its sshd stops, and a listener that never answers takes its port.
  StopSshHost(port == host1_->port() ? host1_ : host2_, port);
  MuteHost mute(port);
  ASSERT_TRUE(mute.ok());
  const auto restarted = std::chrono::steady_clock::now();
  auto local = Awan("launch " + Task("local", "resources: {infra: local}\nrun: echo still here\n"));
  EXPECT_EQ(local.code, 0) << local.err;
  EXPECT_THAT(local.out, HasSubstr("still here"));
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, std::chrono::seconds(40))
      << "the restart waited for the silent host";
  EXPECT_EQ(Job(id)["state"], "RUNNING");
  EXPECT_THAT(Awan(fmt::format("events {}", id)).out,
              HasSubstr("adopted after a server restart; lab is asked how they are"));
}

TEST_F(SshTest, WrongKeyAndUnreachableHostAreClearConfigErrors) {
  const std::string other_keys = (home_ / "other-keys").string();
  fs::create_directories(other_keys);
  std::system(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {}/id_ed25519 >/dev/null", other_keys)
                  .c_str());
  WriteConfig(other_keys + "/id_ed25519", host1_->port(), awan::testing::FreeLoopbackPort());
  auto r = Awan("check-config");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("Permission denied"));
  EXPECT_THAT(r.err, HasSubstr("unreachable"));
  EXPECT_THAT(r.out, HasSubstr("local"));  // the other providers still load
  // The server starts anyway and runs jobs on the providers that work.
  auto hello = Awan("launch " + Task("hello", "resources: {cpus: 1+}\nrun: echo still here\n"));
  EXPECT_EQ(hello.code, 0) << hello.err;
  EXPECT_THAT(hello.out, HasSubstr("still here"));
  EXPECT_THAT(Slurp(home_ / "server.log"), HasSubstr("Permission denied"));
  WriteConfig("/nonexistent/key", host1_->port(), host2_->port());
  EXPECT_THAT(Awan("check-config").err, HasSubstr("key file /nonexistent/key does not exist"));
}

// Two real Slurm clusters (slurmctld + two slurmd each, on loopback ports) stand for two providers.
class SlurmTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    const std::string tag = std::to_string(getpid() % 100000);
    one_ = std::make_unique<awan::testing::SlurmCluster>("a" + tag, 2, 8);
    if (!one_->Available()) GTEST_SKIP() << one_->Why();
    two_ = std::make_unique<awan::testing::SlurmCluster>("b" + tag, 2, 8);
    if (!two_->Available()) GTEST_SKIP() << two_->Why();
    std::ofstream(home_ / "config.yaml") << fmt::format(R"(providers:
  - {{name: local, kind: local}}
  - {{name: hpc1, kind: slurm, slurm_conf: {}, nodes: 2, accelerator: H100, accelerator_count: 8, gres_type: h100, price: 1, immediate_seconds: 5}}
  - {{name: hpc2, kind: slurm, slurm_conf: {}, nodes: 2, accelerator: H100, accelerator_count: 8, gres_type: h100, price: 2, immediate_seconds: 5}}
)",
                                                        one_->conf(), two_->conf());
  }
  void TearDown() override {
    ServerTest::TearDown();
    one_.reset();
    two_.reset();
  }
  std::unique_ptr<awan::testing::SlurmCluster> one_, two_;
};

TEST_F(SlurmTest, TwoNodeGpuJobRunsOnASlurmClusterWithLogsAndExitCodes) {
  auto r = Awan("launch " + Task("two", R"TASK(name: on-slurm
num_nodes: 2
resources: {accelerators: H100:8}
run: |
  echo "rank $AWAN_NODE_RANK of $AWAN_NUM_NODES on $SLURMD_NODENAME via $AWAN_PROVIDER"
  if [ "$AWAN_NODE_RANK" = 1 ]; then exit 5; fi
)TASK"));
  EXPECT_EQ(r.code, 5) << r.err;
  const J job = Job(1);
  EXPECT_EQ(job["placement"]["provider"], "hpc1");  // the cheaper cluster
  EXPECT_EQ(job["exit_code"], 5);
  const std::string logs = Awan("logs 1").out;
  EXPECT_THAT(logs, ::testing::ContainsRegex("\\(rank 0\\) rank 0 of 2 on a[0-9]+-node1 via hpc1"));
  EXPECT_THAT(logs, ::testing::ContainsRegex("\\(rank 1\\) rank 1 of 2 on a[0-9]+-node2 via hpc1"));
  // The allocation was released: Slurm's queue is empty.
  bool empty = false;
  for (int i = 0; i < 100 && !empty; ++i) {
    empty = one_->Run("squeue -h -o %i").empty();
    if (!empty) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(empty) << one_->Run("squeue");
}

// A node of the cluster fails under a running job (set DOWN: Slurm ends the allocation with
// NODE_FAIL, and the node stays down): the provider reports the node lost, and the job takes the
// same path as a spot interruption — stopped, released, queued again — and runs again, on the other
// cluster (this one has one node left for a two-node gang).
TEST_F(SlurmTest, ANodeFailureQueuesTheJobAgain) {
  const int64_t id = LaunchDetached(
      Task("gang", "num_nodes: 2\nresources: {accelerators: H100:8}\nrun: sleep 30\n"));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  const std::string tag = std::to_string(getpid() % 100000);
  one_->Run(fmt::format("scontrol update NodeName=a{}-node2 State=DOWN Reason=awan-test", tag));
  const auto runs = [](const std::string& events) {
    size_t n = 0;
    for (size_t at = events.find("PROVISIONING → RUNNING"); at != std::string::npos;
         at = events.find("PROVISIONING → RUNNING", at + 1)) {
      ++n;
    }
    return n;
  };
  std::string events;
  for (int i = 0; i < 300 && !(runs(events) == 2 && Job(id).value("state", "") == "RUNNING"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    events = Awan(fmt::format("events {}", id)).out;
  }
  EXPECT_EQ(runs(events), 2u) << events;
  EXPECT_THAT(events, HasSubstr("RUNNING → PREEMPTED: hpc1: Slurm allocation"));
  EXPECT_EQ(Job(id)["placement"]["provider"], "hpc2");
  EXPECT_THAT(events, HasSubstr("lost a node (NODE_FAIL)"));
  EXPECT_THAT(events, HasSubstr("RECOVERING → PENDING: queued again after preemption"));
  EXPECT_THAT(events, ::testing::Not(HasSubstr("FAILED")));
  ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  EXPECT_TRUE(WaitState(id, "CANCELLED"));
}

// The same after a server restart: the provider's handle on the node says which allocation it
// runs in, so the new server still tells a node failure from the job's own end.
TEST_F(SlurmTest, ANodeFailureAfterARestartIsStillANodeLoss) {
  const int64_t id =
      LaunchDetached(Task("gang", "resources: {accelerators: H100:8}\nrun: sleep 60\n"));
  ASSERT_TRUE(WaitState(id, "RUNNING"));
  ASSERT_EQ(Awan("server stop").code, 0);
  ASSERT_EQ(Awan("server start").code, 0);
  const std::string node = one_->Run("squeue -h -o %N");
  ASSERT_FALSE(node.empty());
  one_->Run(fmt::format("scontrol update NodeName={} State=DOWN Reason=awan-test",
                        node.substr(0, node.find('\n'))));
  std::string events;
  for (int i = 0; i < 300; ++i) {
    events = Awan(fmt::format("events {}", id)).out;
    if (events.find("RECOVERING → PENDING") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(events, HasSubstr("lost a node (NODE_FAIL)"));
  EXPECT_THAT(events, HasSubstr("RECOVERING → PENDING: queued again after preemption"));
  EXPECT_THAT(events, ::testing::Not(HasSubstr("FAILED")));
  ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  EXPECT_TRUE(WaitState(id, "CANCELLED"));
}

// The three ways a provider loses a running node — an emulated spot interruption, an SSH host that
// goes away, a Slurm node failure — reported by three providers of one fleet, at the same time,
// take the very same recovery path: stopped, released, queued again, placed anew.
class NodeLossTest : public SshTest {
 protected:
  void SetUp() override {
    SshTest::SetUp();  // the two SSH hosts
    if (IsSkipped()) return;
    cluster_ = std::make_unique<awan::testing::SlurmCluster>(
        "n" + std::to_string(getpid() % 100000), 2, 8);
    if (!cluster_->Available()) GTEST_SKIP() << cluster_->Why();
    std::ofstream(home_ / "config.yaml") << fmt::format(
        R"(providers:
  - {{name: local, kind: local}}
  - {{name: coreweave, kind: sim, emulates: coreweave}}
  - name: lab
    kind: ssh
    user: root
    key: {}
    remote_root: {}
    connect_timeout_s: 2
    node_lost_after_s: 2
    hosts:
      - {{host: 127.0.0.1, port: {}, accelerator: H100, accelerator_count: 8, cpus: 2, memory_gib: 8}}
      - {{host: 127.0.0.1, port: {}, accelerator: H100, accelerator_count: 8, cpus: 2, memory_gib: 8}}
  - {{name: hpc1, kind: slurm, slurm_conf: {}, nodes: 2, accelerator: H100, accelerator_count: 8, gres_type: h100, price: 1, immediate_seconds: 5}}
)",
        host1_->user_key(), (home_ / "remote").string(), host1_->port(), host2_->port(),
        cluster_->conf());
  }
  void TearDown() override {
    SshTest::TearDown();
    cluster_.reset();
  }
  // The job's state changes, without their reasons: "RUNNING → PREEMPTED", ...
  std::vector<std::string> Path(int64_t id) {
    std::vector<std::string> path;
    const J events = J::parse(Awan(fmt::format("events {} --json", id)).out);
    for (const J& e : events) {
      if (e.value("type", "") != "state") continue;
      const std::string m = e.value("message", "");
      path.push_back(m.substr(0, m.find(':')));
    }
    return path;
  }
  std::unique_ptr<awan::testing::SlurmCluster> cluster_;
};

TEST_F(NodeLossTest, SpotInterruptionLostHostAndSlurmNodeFailureTakeOneRecoveryPath) {
  const auto launch = [&](const std::string& infra) {
    return LaunchDetached(Task(
        infra,
        fmt::format("resources: {{accelerators: H100:8, infra: {}}}\nrun: sleep 60\n", infra)));
  };
  const int64_t spot = launch("coreweave"), ssh = launch("lab"), slurm = launch("hpc1");
  for (int64_t id : {spot, ssh, slurm}) ASSERT_TRUE(WaitState(id, "RUNNING")) << id;
  const J on_spot = Job(spot), on_ssh = Job(ssh);
  const std::string spot_host = on_spot["nodes"][0]["host"].get<std::string>();
  const std::string ssh_host = on_ssh["nodes"][0]["host"].get<std::string>();
  const std::string slurm_node = cluster_->Run("squeue -h -o %N");
  ASSERT_FALSE(slurm_node.empty());

  // All three at once.
  ASSERT_EQ(Awan("sim preempt " + spot_host).code, 0);
  const int port = PortOf(ssh_host);
  StopSshHost(port == host1_->port() ? host1_ : host2_, port);
  cluster_->Run(fmt::format("scontrol update NodeName={} State=DOWN Reason=awan-test",
                            slurm_node.substr(0, slurm_node.find('\n'))));

  const std::vector<std::string> expected = {"PENDING → PROVISIONING", "PROVISIONING → RUNNING",
                                             "RUNNING → PREEMPTED",    "PREEMPTED → RECOVERING",
                                             "RECOVERING → PENDING",   "PENDING → PROVISIONING",
                                             "PROVISIONING → RUNNING"};
  for (int64_t id : {spot, ssh, slurm}) {
    std::vector<std::string> path;
    for (int i = 0; i < 300 && path != expected; ++i) {
      path = Path(id);
      if (path != expected) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(path, expected) << "job " << id << "\n" << Awan(fmt::format("events {}", id)).out;
  }
  // Each says what happened, in its provider's words.
  EXPECT_THAT(Awan(fmt::format("events {}", spot)).out, HasSubstr("(emulated spot interruption)"));
  EXPECT_THAT(Awan(fmt::format("events {}", ssh)).out,
              HasSubstr(fmt::format("RUNNING → PREEMPTED: lab: host {} unreachable", ssh_host)));
  EXPECT_THAT(Awan(fmt::format("events {}", slurm)).out, HasSubstr("lost a node (NODE_FAIL)"));
  EXPECT_NE(Job(ssh)["nodes"][0].value("host", ""), ssh_host);  // on the host that answers
  for (int64_t id : {spot, ssh, slurm}) {
    ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
    EXPECT_TRUE(WaitState(id, "CANCELLED"));
  }
}

TEST_F(SlurmTest, ABusyClusterFailsOverToTheOtherAndCancelStopsTheWork) {
  const fs::path pidfile = home_ / "slurm-child.pid";
  const int64_t filler = LaunchDetached(Task("fill", fmt::format(R"(num_nodes: 2
resources: {{accelerators: H100:8, infra: hpc1}}
run: |
  sleep 300 &
  if [ "$AWAN_NODE_RANK" = 0 ]; then echo $! > {}; fi
  wait
)",
                                                                 pidfile.string())));
  ASSERT_TRUE(WaitState(filler, "RUNNING"));
  auto r =
      Awan("launch " +
           Task("next", "resources: {accelerators: H100:8}\nrun: echo landed on $AWAN_PROVIDER\n"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("landed on hpc2"));
  auto events = Awan(fmt::format("events {}", filler + 1)).out;
  EXPECT_THAT(events, HasSubstr("attempt 1: hpc1 hpc1 slurm-default: capacity_unavailable"));
  EXPECT_THAT(events, HasSubstr("attempt 2: hpc2 hpc2 slurm-default: provisioned"));
  // The failed gang left nothing queued on hpc1: only the filler's allocation is there.
  const std::string queued = one_->Run("squeue -h -t PENDING,RUNNING -o '%i %T %j'");
  EXPECT_EQ(std::count(queued.begin(), queued.end(), '\n'), 1) << queued;
  // Cancel really stops the work on the cluster.
  for (int i = 0; i < 300 && Slurp(pidfile).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t child = std::stoi(Slurp(pidfile));
  ASSERT_TRUE(Alive(child));
  ASSERT_EQ(Awan(fmt::format("cancel {}", filler)).code, 0);
  ASSERT_TRUE(WaitState(filler, "CANCELLED"));
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {
    gone = !Alive(child) && one_->Run("squeue -h -o %i").empty();
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(gone) << one_->Run("squeue");
}

}  // namespace

// The server with awan's fleet scheduler on (`scheduler:` in $AWAN_HOME/config.yaml): two emulated
// providers (sim: a stand-in for real clouds) and a fleet file with one 2-node H100 pool on each;
// the AWS pool is committed by a contract, so it is filled first although CoreWeave's catalog price
// is lower. The emulated regions' quotas hold exactly the pools' nodes, so provisioning before the
// nodes of preempted jobs are released would fail.
class FleetSchedulerTest : public ServerTest {
 protected:
  void Configure(const std::string& policy) {
    std::ofstream(home_ / "config.yaml") << fmt::format(R"(providers:
  - {{name: local, kind: local}}
  - {{name: coreweave, kind: sim, emulates: coreweave, quota: {{US-EAST-04: 2}}, delay_ms: [0, 20]}}
  - {{name: aws, kind: sim, emulates: aws, quota: {{us-east-1: 2}}, delay_ms: [0, 20]}}
scheduler: {{fleet: fleet.yaml, policy: {}}}
)",
                                                        policy);
    std::ofstream(home_ / "fleet.yaml") << R"(name: test
start: 2026-01-01
pools:
  - {name: cw, provider: coreweave, region: US-EAST-04, domain: cw, accelerator: H100, accelerators_per_node: 8, nodes: 2}
  - {name: aws, provider: aws, region: us-east-1, domain: use1, accelerator: H100, accelerators_per_node: 8, nodes: 2}
contracts:
  - {name: aws-h100, provider: aws, accelerator: H100, price_per_accelerator_hour: 3, ramp: [{from: 2026-01-01, accelerators: 16}]}
)";
  }
  // A 2-node × H100:8 job (a whole pool).
  std::string Gang(const std::string& name, int priority, bool preemptible,
                   const std::string& run) {
    return Task(name,
                fmt::format("name: {}\nnum_nodes: 2\nresources: {{accelerators: H100:8}}\n"
                            "scheduling: {{team: t, priority: {}, preemptible: {}}}\nrun: {}\n",
                            name, priority, preemptible, run));
  }
  std::string Events(int64_t id) { return Awan(fmt::format("events {}", id)).out; }
  std::vector<std::string> Hosts(int64_t id) {
    std::vector<std::string> hosts;
    for (const J& n : Job(id).value("nodes", J::array())) hosts.push_back(n.value("host", ""));
    return hosts;
  }
};

TEST_F(FleetSchedulerTest, CommittedPoolFirstAndOnlyPreemptibleLowerJobsArePreempted) {
  Configure("priority");
  const int64_t a = LaunchDetached(
      Gang("a", 0, true, "trap 'echo checkpoint saved; exit 143' TERM; sleep 60 & wait"));
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  EXPECT_EQ(Job(a)["placement"]["provider"], "aws");  // committed, though coreweave is cheaper
  EXPECT_THAT(Events(a),
              HasSubstr("scheduled  pool aws (aws us-east-1, 2 × H100:8), paid committed"));
  const int64_t b = LaunchDetached(Gang("b", 0, false, "sleep 60"));
  ASSERT_TRUE(WaitState(b, "RUNNING"));
  EXPECT_EQ(Job(b)["placement"]["provider"], "coreweave");
  EXPECT_THAT(Events(b), HasSubstr("paid on_demand"));
  const std::vector<std::string> b_hosts = Hosts(b);
  // The fleet is full: a priority-10 job preempts a (preemptible), never b (not preemptible).
  const int64_t c = LaunchDetached(Gang("c", 10, false, "sleep 5"));  // outlasts the checks below
  ASSERT_TRUE(WaitState(c, "RUNNING"));
  EXPECT_EQ(Job(c)["placement"]["provider"], "aws");
  EXPECT_THAT(Events(a),
              HasSubstr(fmt::format("RUNNING → PREEMPTED: preempted by job {} (priority 10)", c)));
  EXPECT_THAT(Events(c), HasSubstr(fmt::format("preempted job(s) {}", a)));
  EXPECT_THAT(Events(c),
              ::testing::Not(HasSubstr("retry")));  // provisioned once a's nodes were gone
  // It got SIGTERM first, and what it printed while stopping is in its log.
  EXPECT_THAT(Awan(fmt::format("logs {}", a)).out, HasSubstr("(rank 1) checkpoint saved"));
  // Another priority-10 job finds nothing it may preempt (b is not preemptible, c is not lower): it
  // waits.
  const int64_t d = LaunchDetached(Gang("d", 10, false, "echo d"));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(Job(d)["state"], "PENDING");
  EXPECT_EQ(Job(b)["state"], "RUNNING");
  EXPECT_EQ(Hosts(b), b_hosts);
  EXPECT_THAT(Events(b), ::testing::Not(HasSubstr("PREEMPTED")));
  // c ends; d (priority 10) goes before a (priority 0, queued again); then a runs again.
  ASSERT_TRUE(WaitState(c, "SUCCEEDED"));
  ASSERT_TRUE(WaitState(d, "SUCCEEDED"));
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  EXPECT_GE(Job(d)["started_at"].get<std::string>(), Job(c)["ended_at"].get<std::string>());
  auto server = J::parse(Awan("server status --json").out);
  EXPECT_EQ(server["scheduler"]["policy"], "priority");
  EXPECT_EQ(server["scheduler"]["running"], 2);
  EXPECT_EQ(server["scheduler"]["accelerators_in_use"], 32);
  EXPECT_EQ(server["scheduler"]["accelerators_total"], 32);
  ASSERT_EQ(Awan(fmt::format("cancel {}", a)).code, 0);
  ASSERT_EQ(Awan(fmt::format("cancel {}", b)).code, 0);
  ASSERT_TRUE(WaitState(a, "CANCELLED"));
  ASSERT_TRUE(WaitState(b, "CANCELLED"));
}

TEST_F(FleetSchedulerTest, AnOutageRequeuesExactlyTheJobsOnThatProvider) {
  Configure("fifo");
  const int64_t a = LaunchDetached(Gang("a", 0, false, "echo \"a on $AWAN_PROVIDER\"; sleep 60"));
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  const int64_t b = LaunchDetached(Gang("b", 0, false, "sleep 60"));
  ASSERT_TRUE(WaitState(b, "RUNNING"));
  ASSERT_EQ(Job(a)["placement"]["provider"], "aws");
  ASSERT_EQ(Job(b)["placement"]["provider"], "coreweave");
  const std::vector<std::string> b_hosts = Hosts(b);
  ASSERT_EQ(Awan("sim outage aws").code, 0);
  ASSERT_TRUE(WaitState(a, "PENDING"));
  // The emulated cloud reports the node lost (or the scheduler sees the pool go down first).
  EXPECT_THAT(Events(a), HasSubstr("RUNNING → PREEMPTED: aws us-east-1 is down"));
  // b, on another provider, runs on untouched; a waits: the only other pool is full.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Job(a)["state"], "PENDING");
  EXPECT_EQ(Job(b)["state"], "RUNNING");
  EXPECT_EQ(Hosts(b), b_hosts);
  EXPECT_THAT(Events(b), ::testing::Not(HasSubstr("PREEMPTED")));
  ASSERT_EQ(Awan("sim restore aws").code, 0);
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  EXPECT_EQ(Job(a)["placement"]["provider"], "aws");
  for (int64_t id : {a, b}) ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  ASSERT_TRUE(WaitState(a, "CANCELLED"));
  ASSERT_TRUE(WaitState(b, "CANCELLED"));
  EXPECT_THAT(Awan(fmt::format("logs {}", a)).out, HasSubstr("a on aws"));
}

TEST_F(FleetSchedulerTest, AJobAdoptedAfterAServerRestartStaysInTheBooks) {
  Configure("priority");
  const int64_t a = LaunchDetached(Gang("a", 0, true, "sleep 60"));
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  const int64_t b = LaunchDetached(Gang("b", 0, false, "sleep 60"));
  ASSERT_TRUE(WaitState(b, "RUNNING"));
  auto info = awan::client::ReadServerInfo(home_.string());
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(kill(static_cast<pid_t>(info->pid), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // Any command starts a new server with $AWAN_HOME/config.yaml; it adopts both jobs into its
  // books.
  ASSERT_TRUE(WaitState(a, "RUNNING"));
  auto server = J::parse(Awan("server status --json").out);
  EXPECT_EQ(server["scheduler"]["running"], 2);
  EXPECT_EQ(server["scheduler"]["accelerators_in_use"], 32);
  // So a higher-priority job must preempt a (an empty book would have let it start beside a).
  const int64_t c = LaunchDetached(Gang("c", 10, false, "echo c"));
  ASSERT_TRUE(WaitState(c, "SUCCEEDED"));
  EXPECT_THAT(Events(a), HasSubstr(fmt::format("preempted by job {}", c)));
  for (int64_t id : {a, b}) ASSERT_EQ(Awan(fmt::format("cancel {}", id)).code, 0);
  ASSERT_TRUE(WaitState(a, "CANCELLED"));
  ASSERT_TRUE(WaitState(b, "CANCELLED"));
}

TEST_F(FleetSchedulerTest, BadConfigAndUnschedulableTasksGetClearErrors) {
  Configure("priorty");
  auto r = Awan("server start");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("config.yaml:5:40: scheduler.policy: unknown policy 'priorty' (did "
                               "you mean 'priority'?)"));
  Configure("backfill");
  {
    std::string fleet = Slurp(home_ / "fleet.yaml");
    fleet.replace(fleet.find("us-east-1"), 9, "us-east-9");
    std::ofstream(home_ / "fleet.yaml") << fleet;
  }
  r = Awan("server start");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("pool aws: provider aws sells nothing in region 'us-east-9'"));
  Configure("backfill");
  r = Awan("server start");
  ASSERT_EQ(r.code, 0) << r.err;
  auto check = J::parse(Awan("check-config --json").out);
  EXPECT_EQ(check["scheduler"]["policy"], "backfill");
  EXPECT_EQ(check["scheduler"]["accelerators"], 32);
  // A gang bigger than any pool, and a task that pins its own placement, are refused at launch.
  r = Awan("launch " +
           Task("big", "num_nodes: 3\nresources: {accelerators: H100:8}\nrun: echo never\n"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("the largest H100 pool has 2 nodes (the task asks for 3)"));
  EXPECT_THAT(r.err, HasSubstr("cw (2 × H100:8)"));
  r = Awan("launch " + Task("part", "resources: {accelerators: H100:2}\nrun: echo never\n"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("H100 comes in whole nodes of 8: ask for H100:8 per node"));
  r = Awan("launch " +
           Task("pinned", "resources: {accelerators: H100:8, infra: aws}\nrun: echo never\n"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("remove infra/cloud/region/zone/instance_type"));
  // CPU-only jobs are not the scheduler's: they are placed directly and run.
  r = Awan("launch " + Task("cpu", "run: echo cpu job\n"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cpu job"));
}

TEST_F(FleetSchedulerTest, APoolOnThisMachinePreemptsThroughTheLocalProvider) {
  // This machine as a one-GPU pool (AWAN_LOCAL_GPUS stands in for the GPU; on a GPU machine the
  // same runs on the real one): the preempted job's process stops and the GPU goes to the higher
  // job.
  const std::string env = "AWAN_LOCAL_GPUS=H100";
  std::ofstream(home_ / "config.yaml") << "providers:\n  - {name: local, kind: local}\nscheduler: "
                                          "{fleet: fleet.yaml, policy: priority}\n";
  std::ofstream(home_ / "fleet.yaml") << "start: 2026-01-01\npools:\n  - {name: here, provider: "
                                         "local, region: local, domain: here, "
                                         "accelerator: H100, accelerators_per_node: 1, nodes: 1}\n";
  const auto task = [&](const std::string& name, int priority, bool preemptible,
                        const std::string& run) {
    return Task(name, fmt::format("resources: {{accelerators: H100:1}}\nscheduling: {{priority: "
                                  "{}, preemptible: {}}}\nrun: {}\n",
                                  priority, preemptible, run));
  };
  const int64_t low =
      LaunchDetached(task("low", 0, true, "echo low gpu=$CUDA_VISIBLE_DEVICES; sleep 60"), env);
  ASSERT_TRUE(WaitState(low, "RUNNING"));
  EXPECT_EQ(Job(low)["placement"]["provider"], "local");
  auto r = Awan("launch " + task("high", 10, false, "echo high gpu=$CUDA_VISIBLE_DEVICES"), env);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("high gpu=0"));
  EXPECT_THAT(
      r.err, HasSubstr(fmt::format(
                 "pool here (local local, 1 × H100:1), paid on_demand; preempted job(s) {}", low)));
  EXPECT_THAT(Events(low), HasSubstr("RUNNING → PREEMPTED: preempted by job"));
  ASSERT_TRUE(WaitState(low, "RUNNING"));  // back on the GPU once the high job ended
  ASSERT_EQ(Awan(fmt::format("cancel {}", low)).code, 0);
  ASSERT_TRUE(WaitState(low, "CANCELLED"));
  EXPECT_EQ(Awan(fmt::format("logs {}", low)).out, "low gpu=0\nlow gpu=0\n");
}
