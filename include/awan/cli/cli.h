// The `awan` command line. Everything but main() lives in the library so tests can drive it.
#pragma once

namespace awan::cli {

// Parses argv, runs the subcommand and returns the process exit code.
int Run(int argc, char** argv);

}  // namespace awan::cli
