#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/providers/local.h"

extern char** environ;

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

// Runs setup then run; output goes to the job log (prefixed with the rank for multi-node jobs);
// the exit code is written atomically last.
constexpr const char* kWrapper =
    R"(# awan node wrapper (generated): setup, then run, then the exit code.
echo $$ > "$AWAN_NODE_DIR/pid"
cd "$AWAN_NODE_DIR/work" || exit 1
step() {
  if [ "$AWAN_NUM_NODES" -gt 1 ]; then
    # The prefixer ignores SIGTERM, so what the job prints while stopping (a checkpoint) is kept.
    bash "$1" 2>&1 | (trap '' TERM; exec sed -u "s/^/(rank $AWAN_NODE_RANK) /")
    return "${PIPESTATUS[0]}"
  fi
  bash "$1"
}
rc=0
if [ -s "$AWAN_NODE_DIR/setup.sh" ]; then
  step "$AWAN_NODE_DIR/setup.sh"
  rc=$?
  if [ "$rc" -ne 0 ]; then echo "[awan] rank $AWAN_NODE_RANK: setup failed with exit code $rc"; fi
fi
if [ "$rc" -eq 0 ]; then
  step "$AWAN_NODE_DIR/run.sh"
  rc=$?
fi
echo "$rc" > "$AWAN_NODE_DIR/exit_code.tmp" && mv "$AWAN_NODE_DIR/exit_code.tmp" "$AWAN_NODE_DIR/exit_code"
exit "$rc"
)";

std::string ReadSmall(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(fmt::format("cannot write {}", p.string()));
  return absl::OkStatus();
}

}  // namespace

const char* NodeWrapperScript() { return kWrapper; }

bool GpuMatches(const std::string& gpu_name, const std::string& wanted) {
  if (wanted.empty()) return true;
  // "NVIDIA H100 80GB HBM3" has "H100" as a word; "A100-80GB" wants "A100" with 80GB memory: keep
  // it simple and compare the leading part before '-'.
  const std::string name = ToLower(gpu_name);
  std::string want = ToLower(wanted);
  if (name == want) return true;
  if (const size_t dash = want.find('-'); dash != std::string::npos) want = want.substr(0, dash);
  size_t at = name.find(want);
  while (at != std::string::npos) {
    const bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
    const size_t end = at + want.size();
    const bool right = end == name.size() || !std::isalnum(static_cast<unsigned char>(name[end]));
    if (left && right) return true;
    at = name.find(want, at + 1);
  }
  return false;
}

LocalResources DetectLocalResources() {
  LocalResources r;
  r.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  std::istringstream meminfo(ReadSmall("/proc/meminfo"));
  std::string key;
  double kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") {
      r.memory_gib = kib / (1024.0 * 1024.0);
      break;
    }
    meminfo.ignore(1024, '\n');
  }
  std::array<char, 256> host{};
  gethostname(host.data(), host.size() - 1);
  r.hostname = host.data();

  if (const char* override_gpus = std::getenv("AWAN_LOCAL_GPUS")) {
    std::stringstream list(override_gpus);
    std::string name;
    int index = 0;
    while (std::getline(list, name, ',')) {
      if (!name.empty()) r.gpus.push_back({index++, name, 0});
    }
    return r;
  }
  FILE* smi = popen(
      "nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits 2>/dev/null",
      "r");
  if (smi == nullptr) return r;
  std::array<char, 512> line{};
  while (fgets(line.data(), static_cast<int>(line.size()), smi) != nullptr) {
    std::stringstream row(line.data());
    std::string index, name, memory;
    if (!std::getline(row, index, ',') || !std::getline(row, name, ',') ||
        !std::getline(row, memory))
      continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r\n") + 1);
      return s;
    };
    auto i = ParseNumber(trim(index));
    auto m = ParseNumber(trim(memory));
    if (!i) continue;
    r.gpus.push_back({static_cast<int>(*i), trim(name), m ? *m / 1024.0 : 0});
  }
  pclose(smi);
  return r;
}

int64_t ProcessStartTicks(int64_t pid) {
  const std::string stat = ReadSmall(fmt::format("/proc/{}/stat", pid));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  // Fields after the command: 3 = state ... 22 = starttime.
  std::string state;
  rest >> state;
  if (state == "Z" || state == "X") return 0;  // exited, not yet reaped
  for (int i = 4; i <= 22 && rest >> field; ++i) {
    if (i == 22) return std::stoll(field);
  }
  return 0;
}

absl::Status StageNodeFiles(const NodeSpec& spec) {
  const fs::path dir = spec.node_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  const fs::path work = dir / "work", mounts = dir / "mounts";
  const fs::path work_partial = dir / "work.partial", mounts_partial = dir / "mounts.partial";
  const auto clean = [&] {
    std::error_code ignored;
    fs::remove_all(work_partial, ignored);
    fs::remove_all(mounts_partial, ignored);
  };
  clean();
  fs::create_directories(work_partial, ec);
  const auto copy = [&](const std::string& from, const fs::path& to, const std::string& what) {
    std::error_code err;
    fs::create_directories(to.parent_path(), err);
    if (!err) {
      fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks, err);
    }
    if (!err) return absl::OkStatus();
    clean();
    return absl::InternalError(
        fmt::format("cannot copy {} {} to the node: {}", what, from, err.message()));
  };
  if (!spec.workdir.empty()) {
    RETURN_IF_ERROR(copy(spec.workdir, work_partial, "workdir"));
  }
  // Where a file_mounts destination lands: ~/ and relative ones in the work folder, absolute
  // ones under mounts/.
  const auto target_of = [&](const std::string& dest) -> absl::StatusOr<fs::path> {
    std::string relative = dest;
    if (relative.rfind("~/", 0) == 0) relative = relative.substr(2);
    const bool absolute = !relative.empty() && relative.front() == '/';
    while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
    const fs::path normal = fs::path(relative).lexically_normal();
    if (relative.empty() || normal.string().rfind("..", 0) == 0) {
      clean();
      return absl::InvalidArgumentError(fmt::format(
          "file_mounts.{}: the destination must be a path inside the node's folders", dest));
    }
    return (absolute ? mounts_partial : work_partial) / normal;
  };
  for (const auto& [dest, source] : spec.file_mounts) {
    ASSIGN_OR_RETURN(const fs::path target, target_of(dest));
    RETURN_IF_ERROR(copy(source, target, fmt::format("file_mounts.{} source", dest)));
  }
  for (const auto& [dest, folder] : spec.links) {
    ASSIGN_OR_RETURN(const fs::path target, target_of(dest));
    std::error_code err;
    fs::create_directories(target.parent_path(), err);
    if (!err) fs::create_directory_symlink(folder, target, err);
    if (err) {
      clean();
      return absl::InternalError(fmt::format("file_mounts.{}: cannot link the bucket at {}: {}",
                                             dest, folder, err.message()));
    }
  }
  // Complete: it takes the place of what an earlier start left.
  fs::remove_all(work, ec);
  fs::rename(work_partial, work, ec);
  if (!ec && fs::exists(mounts_partial)) {
    fs::remove_all(mounts, ec);
    fs::rename(mounts_partial, mounts, ec);
  }
  if (ec) {
    clean();
    return absl::InternalError(
        fmt::format("cannot place the node's files in {}: {}", dir.string(), ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProcessHandle> StartNode(const NodeSpec& spec) {
  const fs::path dir = spec.node_dir;
  RETURN_IF_ERROR(StageNodeFiles(spec));
  for (auto [name, text] : {std::pair{"wrapper.sh", std::string(kWrapper)},
                            std::pair{"setup.sh", spec.setup}, std::pair{"run.sh", spec.run}}) {
    RETURN_IF_ERROR(WriteFile(dir / name, text));
  }

  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (kv.rfind("CUDA_VISIBLE_DEVICES=", 0) == 0 || kv.rfind("AWAN_", 0) == 0) continue;
    env_strings.push_back(kv);
  }
  for (const auto& [k, v] : spec.envs) env_strings.push_back(k + "=" + v);
  std::string gpus;
  for (int g : spec.gpu_indices) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
  env_strings.push_back("CUDA_VISIBLE_DEVICES=" + gpus);
  env_strings.push_back(fmt::format("AWAN_JOB_ID={}", spec.job_id));
  env_strings.push_back(fmt::format("AWAN_NODE_RANK={}", spec.rank));
  env_strings.push_back(fmt::format("AWAN_NUM_NODES={}", spec.num_nodes));
  env_strings.push_back("AWAN_NODE_IPS=" + spec.node_ips);
  env_strings.push_back("AWAN_NODE_DIR=" + dir.string());
  env_strings.push_back("AWAN_MOUNTS=" + (dir / "mounts").string());
  // The awan binary that runs this node (jobs run its tools: `$AWAN_BIN llm-replica`).
  std::error_code exe_ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", exe_ec);
  if (!exe_ec) env_strings.push_back("AWAN_BIN=" + exe.string());
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.launcher;
  args.push_back("/bin/bash");
  args.push_back((dir / "wrapper.sh").string());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string program = args.front();
  const std::string log = spec.log_path;
  const std::string workdir = (dir / "work").string();

  const pid_t pid = fork();
  if (pid < 0) return absl::ResourceExhaustedError("fork failed");
  if (pid == 0) {
    // The server blocks SIGTERM/SIGINT (it sigwaits for them) and ignores SIGPIPE; both would be
    // inherited through exec, so the job gets the default signal state back.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    setsid();  // its own process group: cancel kills everything it started
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null < 0) _exit(127);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    // Nothing of the server's leaks into the job: its lock file, its listening socket, the
    // database.
    close_range(3, ~0U, 0);
    if (chdir(workdir.c_str()) != 0) _exit(127);
    // execvpe: the launcher (env, srun) is found on PATH.
    execvpe(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  ProcessHandle handle{pid, 0};
  // The start time is in /proc as soon as fork returns.
  handle.pid_start = ProcessStartTicks(pid);
  return handle;
}

// The wrapper (the group's leader) alone: its exit code file, or whether it still runs.
static NodeProbe ProbeNodeLeader(const std::string& node_dir, const ProcessHandle& handle);

NodeProbe ProbeNode(const std::string& node_dir, const ProcessHandle& handle) {
  NodeProbe probe = ProbeNodeLeader(node_dir, handle);
  probe.processes_alive = probe.state == NodeState::kRunning || ProcessGroupAlive(handle);
  return probe;
}

bool ProcessGroupAlive(const ProcessHandle& handle) {
  if (handle.pid <= 0) return false;
  // The group id is the leader's pid; Linux does not hand out a pid that is still some group's id,
  // so a live group with this id is the node's own, even after its leader is gone.
  if (kill(-static_cast<pid_t>(handle.pid), 0) != 0 && errno != EPERM) return false;
  // kill() also finds zombies nobody reaps (an init that does not reap orphans): look for a member
  // that really runs.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    const std::string stat = ReadSmall(entry.path() / "stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    int64_t ppid = 0, pgrp = 0;
    if (!(rest >> state >> ppid >> pgrp)) continue;
    if (pgrp == handle.pid && state != "Z" && state != "X") return true;
  }
  return false;
}

static NodeProbe ProbeNodeLeader(const std::string& node_dir, const ProcessHandle& handle) {
  NodeProbe probe;
  // Reap it if it is our child (harmless otherwise), so the exit code file is final.
  int status = 0;
  pid_t reaped = handle.pid > 0 ? waitpid(static_cast<pid_t>(handle.pid), &status, WNOHANG) : 0;
  const fs::path code_file = fs::path(node_dir) / "exit_code";
  const auto exited = [&] {
    std::error_code ec;
    if (!fs::exists(code_file, ec)) return false;
    auto code = ParseNumber(ReadSmall(code_file));
    probe.state = NodeState::kExited;
    probe.exit_code = code ? static_cast<int>(*code) : -1;
    return true;
  };
  if (exited()) return probe;
  // reaped == 0: our child, still running; -1: not our child (adopted after a restart): look in
  // /proc.
  if (reaped <= 0 && handle.pid > 0) {
    const int64_t start = ProcessStartTicks(handle.pid);
    if (start != 0 && (handle.pid_start == 0 || start == handle.pid_start)) {
      probe.state = NodeState::kRunning;
      return probe;
    }
    // It may have ended between the two looks (a job that runs for a few milliseconds): reap it
    // and read its exit code again before calling it gone.
    if (reaped == 0) {
      reaped = waitpid(static_cast<pid_t>(handle.pid), &status, WNOHANG);
      if (exited()) return probe;
    }
  }
  probe.state = NodeState::kGone;
  if (reaped > 0 && WIFSIGNALED(status)) {
    probe.detail =
        fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else if (reaped > 0 && WIFEXITED(status)) {
    probe.detail = fmt::format("exited with {} before writing its status", WEXITSTATUS(status));
  } else {
    probe.detail = "the process is gone and left no exit status";
  }
  return probe;
}

std::optional<ProcessHandle> ReadNodePid(const std::string& node_dir) {
  auto pid = ParseNumber(ReadSmall(fs::path(node_dir) / "pid"));
  if (!pid || *pid <= 0) return std::nullopt;
  return ProcessHandle{static_cast<int64_t>(*pid), 0};
}

NodeHandle ToNodeHandle(const ProcessHandle& process) {
  if (process.pid <= 0) return {};
  return {fmt::format("{}:{}", process.pid, process.pid_start)};
}

ProcessHandle ToProcessHandle(const NodeHandle& handle) {
  const size_t colon = handle.id.find(':');
  if (colon == std::string::npos) return {};
  const auto whole = [](std::string_view text) -> std::optional<int64_t> {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
    return v;
  };
  const std::string_view id = handle.id;
  const auto pid = whole(id.substr(0, colon));
  const auto start = whole(id.substr(colon + 1));
  if (!pid || !start || *pid == 0 || *pid > std::numeric_limits<pid_t>::max()) return {};
  return {*pid, *start};
}

void SignalNode(const ProcessHandle& handle, int signal) {
  if (handle.pid > 0) kill(-static_cast<pid_t>(handle.pid), signal);
}

}  // namespace awan::providers
