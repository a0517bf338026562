// Running commands for the providers that drive other programs (ssh, Slurm's CLI): POSIX shell
// quoting and a runner that captures exit code, stdout and stderr. Internal to src/providers.
#pragma once

#include <string>

namespace awan::providers {

// 'text', safe inside a POSIX shell command line.
std::string ShellQuote(const std::string& text);

// A whole file ("" if it cannot be read).
std::string ReadWholeFile(const std::string& path);

struct ShellResult {
  int code = -1;
  std::string out, err;
};
// Runs `command` with /bin/sh; `input` is its stdin. Thread-safe.
ShellResult RunShell(const std::string& command, const std::string& input = "");

}  // namespace awan::providers
