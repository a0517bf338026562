// Buckets for jobs' data and checkpoints (`file_mounts` with a bucket: docs/storage.md). The
// server reaches each store through its own protocol: `local` is a folder on the server's machine
// (the embedded default), `s3` any S3-compatible endpoint. A job's nodes on providers that share
// this machine's filesystem (local, the emulated clouds) see a bucket at a mapped path under
// $AWAN_MOUNTS: the bucket itself (MOUNT, MOUNT_CACHED) or a copy of it made when the node starts
// (COPY). An s3 bucket is reached with Debian's rclone: COPY downloads it for each node,
// MOUNT_CACHED downloads it into the node's cache and writes the cache back. Thread-safe: every
// method is const and works on the filesystem or the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/spec/task.h"

namespace awan::storage {

// An S3-compatible endpoint (`storage.s3` in the server's fleet config). The keys are read from
// the environment variables named here, never from the file, and never logged.
struct S3Settings {
  std::string endpoint;  // "" = AWS itself
  std::string region = "us-east-1";
  std::string access_key_id_env = "AWS_ACCESS_KEY_ID";
  std::string secret_access_key_env = "AWS_SECRET_ACCESS_KEY";
};

// `storage:` in the fleet config.
struct Settings {
  std::string default_store = "local";  // for a bucket whose file_mounts entry names no store
  std::string local_root;               // the local store's folder ("" = $AWAN_HOME/buckets)
  std::optional<S3Settings> s3;
  // How often a running job's MOUNT_CACHED caches are written back to their buckets.
  int64_t write_back_ms = 5000;
};

struct Bucket {
  std::string store, name;
  int64_t objects = 0, bytes = 0;
  std::string location;  // the folder, or the endpoint
};

class Storage {
 public:
  Storage(Settings settings, std::string awan_home);

  const Settings& settings() const { return settings_; }
  // The store a mount uses (its own, or the default).
  std::string StoreOf(const spec::StorageMount& m) const;
  // OK when this server can reach the mount's store; else why not and how to fix it.
  absl::Status CanReach(const spec::StorageMount& m) const;
  // Makes the bucket if it is missing; uploads the mount's local source into it when `upload`
  // (a job's first start: a recovered job must find its checkpoints, not the source again).
  absl::Status Prepare(const spec::StorageMount& m, bool upload) const;
  // The folder a node on this machine is given for the mount: the bucket's own (MOUNT,
  // MOUNT_CACHED) or a copy of it made in `copy_dir` now (COPY).
  absl::StatusOr<std::string> Attach(const spec::StorageMount& m,
                                     const std::string& copy_dir) const;
  // Whether the mount is a cache written back to its bucket (s3, MOUNT_CACHED): the controller
  // calls WriteBack for it now and then while the job runs, and when its nodes end (not when they
  // were preempted or lost: a lost node's disk is gone).
  bool WritesBack(const spec::StorageMount& m) const;
  // Uploads what changed in `cache_dir` (an Attach result): a snapshot taken at one instant, its
  // newest file (a checkpoint's `latest`) last.
  absl::Status WriteBack(const spec::StorageMount& m, const std::string& cache_dir) const;
  absl::StatusOr<std::vector<Bucket>> List() const;
  // NotFound when there is no such bucket.
  absl::Status Delete(const std::string& store, const std::string& name) const;

 private:
  std::string LocalBucket(const std::string& name) const;
  std::string RemotePath(const spec::StorageMount& m) const;  // "awans3:bucket/prefix"
  absl::Status Rclone(const std::vector<std::string>& args) const;

  Settings settings_;
  std::string local_root_;
};

}  // namespace awan::storage
