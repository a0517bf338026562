// Runs a shell command for the integration tests and captures its exit code, stdout and stderr.
#pragma once

#include <string>

namespace awan::testing {

struct CommandResult {
  int code = -1;
  std::string out, err;
};

CommandResult RunCommand(const std::string& command);

}  // namespace awan::testing
