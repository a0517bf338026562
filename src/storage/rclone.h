// Running Debian's rclone against a store, with the store's settings given in rclone's environment
// variables (RCLONE_CONFIG_<REMOTE>_*), never on the command line (where `ps` would show the keys)
// and never in a config file. Internal to src/storage.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/storage/storage.h"

namespace awan::storage {

// The remote's name in rclone paths: "awans3:BUCKET/PATH".
inline constexpr const char* kS3Remote = "awans3";

struct RcloneResult {
  int code = -1;
  std::string out, err;
};

// Runs `rclone ARGS...` for the S3 settings (keys read from the variables they name). Unavailable
// when rclone is not installed; the result otherwise (a non-zero code is the caller's to read).
absl::StatusOr<RcloneResult> RunRclone(const S3Settings& s3, const std::vector<std::string>& args);

// "rclone copy …: <its last error line>" for a failed run.
std::string RcloneError(const std::vector<std::string>& args, const RcloneResult& r);

}  // namespace awan::storage
