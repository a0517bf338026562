// Runs a shell command for the integration tests and captures its exit code, stdout and stderr.
#pragma once

#include <string>

namespace awan::testing {

struct CommandResult {
  int code = -1;
  std::string out, err;
};

CommandResult RunCommand(const std::string& command);

// A whole (small) file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

// Alive and not a zombie (an orphan's zombie may linger where PID 1 does not reap).
bool ProcessAlive(int pid);

}  // namespace awan::testing
