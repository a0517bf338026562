#include "rclone.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace awan::storage {

absl::StatusOr<RcloneResult> RunRclone(const S3Settings& s3, const std::vector<std::string>& args) {
  const std::string remote = std::string("RCLONE_CONFIG_") + kS3Remote;
  std::string upper;
  for (char c : remote) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // The server's environment, less what would steer rclone or the AWS SDK inside it elsewhere (a
  // CA bundle meant for other tools, another profile), plus the remote's settings.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    if (kv.rfind("AWS_", 0) == 0 || kv.rfind("RCLONE_", 0) == 0) continue;
    env.push_back(kv);
  }
  const char* key = std::getenv(s3.access_key_id_env.c_str());
  const char* secret = std::getenv(s3.secret_access_key_env.c_str());
  env.push_back(upper + "_TYPE=s3");
  env.push_back(upper + (s3.endpoint.empty() ? "_PROVIDER=AWS" : "_PROVIDER=Other"));
  if (!s3.endpoint.empty()) env.push_back(upper + "_ENDPOINT=" + s3.endpoint);
  env.push_back(upper + "_REGION=" + s3.region);
  if (key != nullptr && secret != nullptr) {
    env.push_back(upper + "_ACCESS_KEY_ID=" + key);
    env.push_back(upper + "_SECRET_ACCESS_KEY=" + secret);
  } else {
    env.push_back(upper + "_ENV_AUTH=true");
  }
  env.push_back("RCLONE_CONFIG=/dev/null");  // no config file: everything is above
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_text = {"rclone"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_text) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, "rclone", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::UnavailableError(
        fmt::format("cannot run rclone ({}); the s3 store needs Debian's rclone (scripts/"
                    "install-deps installs it)",
                    std::strerror(spawned)));
  }
  RcloneResult r;
  // Both pipes are drained together, so neither fills while the other is read.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string RcloneError(const std::vector<std::string>& args, const RcloneResult& r) {
  std::string last = r.err;
  while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
  if (const size_t nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  return fmt::format("rclone {} exited with {}: {}", args.empty() ? "" : args.front(), r.code,
                     last.empty() ? "(no message)" : last);
}

}  // namespace awan::storage
