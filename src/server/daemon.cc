// `awan server run`: everything a server process does around the ApiServer.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "awan/catalog/loader.h"
#include "awan/common/json_dump.h"
#include "awan/common/status_macros.h"
#include "awan/providers/fleet.h"
#include "awan/server/api.h"
#include "awan/server/server.h"

namespace awan::server {
namespace {

namespace fs = std::filesystem;

// The token file (mode 0600), created with 32 random bytes at first start.
absl::StatusOr<std::string> EnsureToken(const fs::path& home) {
  const fs::path path = home / "token";
  if (fs::exists(path)) {
    std::ifstream in(path);
    std::string token;
    std::getline(in, token);
    if (!token.empty()) return token;
  }
  std::array<unsigned char, 32> bytes{};
  std::ifstream random("/dev/urandom", std::ios::binary);
  random.read(reinterpret_cast<char*>(bytes.data()), bytes.size());
  if (!random) return absl::InternalError("cannot read /dev/urandom");
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return absl::InternalError(fmt::format("cannot create {}", path.string()));
  const std::string line = token + "\n";
  const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  fchmod(fd, 0600);
  close(fd);
  if (!ok) return absl::InternalError(fmt::format("cannot write {}", path.string()));
  return token;
}

// The gateway of this home: `awan gateway` in a session of its own, so that it keeps serving when
// this server dies or restarts. One from an earlier start that still runs is kept (its pid in
// HOME/gateway.json).
void EnsureGateway(const fs::path& home) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const fs::path state = home / "gateway.json";
  if (std::ifstream in(state); in) {
    try {
      const auto info = nlohmann::json::parse(in);
      const pid_t pid = info.at("pid").get<pid_t>();
      std::ifstream cmdline(fmt::format("/proc/{}/cmdline", pid));
      std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
      if (pid > 0 && kill(pid, 0) == 0 && args.find("gateway") != std::string::npos) return;
    } catch (const std::exception&) {
      // Not ours or half written: start one.
    }
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) {
    spdlog::error("gateway: cannot find this program to start `awan gateway`");
    return;
  }
  exe[n] = '\0';
  const std::string log = (home / "gateway.log").string();
  const std::string state_arg = state.string();
  // The environment, with AWAN_HOME set (made before fork: the child only execs).
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("AWAN_HOME=", 0) != 0) env_text.emplace_back(*e);
  }
  env_text.push_back("AWAN_HOME=" + home.string());
  std::vector<char*> env;
  for (std::string& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    spdlog::error("gateway: fork failed");
    return;
  }
  if (child == 0) {
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int null = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    close_range(3, ~0U, 0);  // nothing of the server's (its listener) lives on in the gateway
    execle(exe, "awan", "gateway", "--state-file", state_arg.c_str(), static_cast<char*>(nullptr),
           env.data());
    _exit(127);
  }
  // Reaped when it ends (it may well outlive this server).
  std::thread([child] { waitpid(child, nullptr, 0); }).detach();
  spdlog::info("gateway started (pid {}, log {})", child, log);
}

bool WriteAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  return !ec;
}

// The highest job id that has a folder under home/jobs (0 if none).
int64_t HighestJobFolder(const fs::path& home) {
  int64_t highest = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(home / "jobs", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 18 ||
        name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    highest = std::max<int64_t>(highest, std::stoll(name));
  }
  return highest;
}

// A store that knows fewer jobs than home/jobs has folders for was lost (deleted, emptied,
// replaced): new job ids would reuse old jobs' folders and read their exit codes.
absl::Status CheckStoreMatchesJobFolders(const fs::path& home, store::Store& store) {
  const int64_t folders = HighestJobFolder(home);
  if (folders == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto newest, store.ListJobs({1, 0, false}));
  const int64_t known = newest.empty() ? 0 : newest.front().id;
  if (known >= folders) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "{}/jobs holds job folders up to {} but the store {} knows {}: its file was deleted, emptied "
      "or replaced. awan will not start over them, because new jobs would reuse those folders. "
      "Restore the store from a backup, or move the old folders aside to start afresh (mv {}/jobs "
      "{}/jobs.old)",
      home.string(), folders, store.Describe(),
      known == 0 ? "no job at all" : fmt::format("jobs up to {} only", known), home.string(),
      home.string()));
}

// `awan server start` passes a pipe as AWAN_SERVER_READY_FD: "ready" is written to it once the
// server listens; if the server exits first, the starter sees the pipe close and says why at once.
class ReadyPipe {
 public:
  ReadyPipe() {
    const char* env = std::getenv("AWAN_SERVER_READY_FD");
    if (env == nullptr) return;
    fd_ = std::atoi(env);
    unsetenv("AWAN_SERVER_READY_FD");
    // Nothing the server starts (jobs, ssh masters, srun) may hold it open.
    if (fd_ > 2) fcntl(fd_, F_SETFD, FD_CLOEXEC);
    if (fd_ <= 2 || fcntl(fd_, F_GETFD) < 0) fd_ = -1;
  }
  ~ReadyPipe() {
    if (fd_ >= 0) close(fd_);
  }
  void Ready() {
    if (fd_ < 0) return;
    (void)!write(fd_, "ready\n", 6);
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace

int RunServerDaemon(const DaemonOptions& options) {
  ReadyPipe ready;
  const fs::path home = options.home;
  std::error_code ec;
  // A new home is private; an existing one keeps the mode its owner gave it (the token and the
  // store are 0600 in any case).
  if (!fs::exists(home, ec)) {
    fs::create_directories(home, ec);
    fs::permissions(home, fs::perms::owner_all, ec);
  } else if ((fs::status(home, ec).permissions() &
              (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    spdlog::warn(
        "{} can be read by other users; its token and store are 0600 (chmod 700 {} to "
        "hide job folders and logs too)",
        home.string(), home.string());
  }

  // One server per AWAN_HOME: two would run the same jobs twice.
  const int lock = open((home / "server.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another awan server is already running for {} (see {}/server.json)",
                  home.string(), home.string());
    return 1;
  }
  auto token = EnsureToken(home);
  if (!token.ok()) {
    spdlog::error("{}", std::string(token.status().message()));
    return 1;
  }
  const std::string db =
      options.db_url.empty() ? "sqlite:" + (home / "awan.db").string() : options.db_url;
  auto store = store::OpenStore(db);
  if (!store.ok()) {
    spdlog::error("store: {}", std::string(store.status().message()));
    return 1;
  }
  if (absl::Status s = CheckStoreMatchesJobFolders(home, **store); !s.ok()) {
    spdlog::error("store: {}", std::string(s.message()));
    return 1;
  }
  catalog::LoadReport report;
  auto catalog = options.catalog_paths.empty()
                     ? catalog::BuiltinCatalog(report)
                     : catalog::LoadCatalogPaths(options.catalog_paths, report);
  if (!catalog.ok()) {
    spdlog::error("catalog: {}", std::string(catalog.status().message()));
    return 1;
  }

  // SIGTERM/SIGINT are waited for below; block them before any thread starts so they inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  providers::LocalResources machine = providers::DetectLocalResources();
  spdlog::info("awan {} server: store {}, machine {} ({} CPUs, {:.1f} GiB, {} GPU(s))",
               kAwanVersion, (*store)->Describe(), machine.hostname, machine.cpus,
               machine.memory_gib, machine.gpus.size());
  nlohmann::json local_config{{"hostname", machine.hostname},
                              {"cpus", machine.cpus},
                              {"memory_gib", machine.memory_gib},
                              {"gpus", machine.gpus.size()}};
  if (absl::Status s =
          (*store)->PutProvider({"local", "local", DumpJson(local_config),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()});
      !s.ok()) {
    spdlog::error("store: cannot record this machine as a provider: {}", std::string(s.message()));
  }
  // The fleet: this machine plus the providers of config.yaml (or the embedded default).
  catalog::LoadReport builtin_report;
  auto builtin = catalog::BuiltinCatalog(builtin_report);
  if (!builtin.ok()) {
    spdlog::error("built-in catalog: {}", std::string(builtin.status().message()));
    return 1;
  }
  auto fleet = providers::LoadFleet(options.config_path, home.string(), *builtin, machine);
  if (!fleet.ok()) {
    spdlog::error("fleet: {}", std::string(fleet.status().message()));
    return 1;
  }
  for (const std::string& e : fleet->errors)
    spdlog::error("fleet: {} (provider left out; the others run)", e);
  // Provider checks run side by side, and the start waits for them a few seconds at most: what
  // they find is logged (failover skips what fails), and an SSH host that never answers (its
  // connect timeout) does not hold the server's start for long.
  struct Checks {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    std::vector<std::thread> threads;
    ~Checks() {
      for (std::thread& t : threads) t.join();
    }
  } checks;
  checks.left = fleet->providers.size();
  for (const auto& p : fleet->providers) {
    checks.threads.emplace_back([&checks, provider = p.get()] {
      if (absl::Status s = provider->Check(); !s.ok()) {
        spdlog::error("fleet: {} (kept; its failures will be skipped by failover)",
                      std::string(s.message()));
      }
      std::lock_guard<std::mutex> lock(checks.mu);
      --checks.left;
      checks.cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(checks.mu);
    checks.cv.wait_for(lock, std::chrono::seconds(5), [&checks] { return checks.left == 0; });
  }
  spdlog::info("fleet from {}: {}", fleet->source, fmt::join(fleet->Names(), ", "));
  controller::ControllerOptions copts;
  copts.home = home.string();
  copts.block_ms = fleet->failover.block_ms;
  copts.retry_base_ms = fleet->failover.retry_base_ms;
  copts.retry_cap_ms = fleet->failover.retry_cap_ms;
  controller::JobController controller(**store, machine, copts, &*fleet);
  if (absl::Status s = controller.Start(); !s.ok()) {
    spdlog::error("controller: {}", std::string(s.message()));
    return 1;
  }
  ServerOptions sopts;
  sopts.host = options.host;
  sopts.port = options.port;
  sopts.token = *token;
  sopts.home = home.string();
  sopts.gateway_host = copts.gateway_host;
  if (options.gateway) sopts.on_service_up = [home] { EnsureGateway(home); };
  // /v1/optimize and /v1/catalog answer for what the fleet sells (what launch uses), unless
  // --catalog names another catalog.
  const catalog::Catalog fleet_catalog = fleet->BuildCatalog();
  ApiServer server(controller, **store, options.catalog_paths.empty() ? fleet_catalog : *catalog,
                   sopts, &*fleet);
  if (absl::Status s = server.Start(); !s.ok()) {
    spdlog::error("{}", std::string(s.message()));
    controller.Stop();
    return 1;
  }
  nlohmann::ordered_json info{{"url", server.url()},
                              {"pid", static_cast<int64_t>(getpid())},
                              {"store", (*store)->Describe()}};
  if (!WriteAtomically(home / "server.json", DumpJson(info) + "\n")) {
    spdlog::error("cannot write {}/server.json", home.string());
    return 1;
  }
  spdlog::info("listening on {} (token in {}/token)", server.url(), home.string());
  if (options.gateway && !controller.Services().empty()) EnsureGateway(home);
  ready.Ready();

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: stopping (running jobs keep running and are adopted at the next start)",
               received);
  server.Stop();
  controller.Stop();
  fs::remove(home / "server.json", ec);
  return 0;
}

}  // namespace awan::server
