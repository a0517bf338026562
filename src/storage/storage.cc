#include "awan/storage/storage.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <tuple>

#include "awan/common/status_macros.h"
#include "rclone.h"

namespace awan::storage {
namespace {

namespace fs = std::filesystem;

// Copies the contents of `from` into `to` (made if missing), replacing files of the same name.
// Each file is written beside its destination and renamed over it, so a reader of `to` sees a
// file whole or not at all.
absl::Status CopyInto(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec)
    return absl::InternalError(fmt::format("cannot create {}: {}", to.string(), ec.message()));
  for (auto it = fs::recursive_directory_iterator(from, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), from, ec);
    if (ec) break;
    const fs::path target = to / rel;
    if (it->is_directory(ec)) {
      fs::create_directories(target, ec);
    } else if (it->is_regular_file(ec)) {
      const fs::path partial = target.string() + ".awan-partial";
      fs::copy_file(it->path(), partial, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(partial, target, ec);
    }
  }
  if (ec) {
    return absl::InternalError(
        fmt::format("cannot copy {} to {}: {}", from.string(), to.string(), ec.message()));
  }
  return absl::OkStatus();
}

// Every regular file under `dir`: relative path → (inode, size, modification time).
std::map<std::string, std::tuple<uint64_t, uint64_t, int64_t>> ListFiles(const fs::path& dir) {
  std::map<std::string, std::tuple<uint64_t, uint64_t, int64_t>> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out[fs::relative(it->path(), dir, ec).string()] = {
        static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  return out;
}

}  // namespace

Storage::Storage(Settings settings, std::string awan_home) : settings_(std::move(settings)) {
  local_root_ = settings_.local_root.empty() ? (fs::path(awan_home) / "buckets").string()
                                             : settings_.local_root;
}

std::string Storage::StoreOf(const spec::StorageMount& m) const {
  return m.store.empty() ? settings_.default_store : m.store;
}

std::string Storage::LocalBucket(const std::string& name) const {
  return (fs::path(local_root_) / name).string();
}

absl::Status Storage::CanReach(const spec::StorageMount& m) const {
  const std::string store = StoreOf(m);
  if (store == "local") return absl::OkStatus();
  if (store == "s3" && settings_.s3) {
    if (m.mode == spec::StorageMode::kMount) {
      return absl::FailedPreconditionError(fmt::format(
          "file_mounts.{}: mode MOUNT of an s3 bucket needs a FUSE mount, which awan does not make "
          "yet; use MOUNT_CACHED (a local cache written back to the bucket) or COPY "
          "(docs/storage.md)",
          m.path));
    }
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(fmt::format(
      "file_mounts.{}: store '{}' is not configured on this server; add `storage: {{{}: ...}}` "
      "to its fleet config (docs/storage.md), or use store: local",
      m.path, store, store));
}

std::string Storage::RemotePath(const spec::StorageMount& m) const {
  return fmt::format("{}:{}{}", kS3Remote, m.name, m.prefix.empty() ? "" : "/" + m.prefix);
}

absl::Status Storage::Rclone(const std::vector<std::string>& args) const {
  ASSIGN_OR_RETURN(RcloneResult r, RunRclone(*settings_.s3, args));
  if (r.code != 0) return absl::UnavailableError(RcloneError(args, r));
  return absl::OkStatus();
}

bool Storage::WritesBack(const spec::StorageMount& m) const {
  return StoreOf(m) == "s3" && m.mode == spec::StorageMode::kMountCached;
}

absl::Status Storage::WriteBack(const spec::StorageMount& m, const std::string& cache_dir) const {
  if (!WritesBack(m)) return absl::OkStatus();
  std::error_code ec;
  if (!fs::is_directory(cache_dir, ec)) return absl::OkStatus();
  // The job writes while this runs. Upload a snapshot taken at one point in time (hard links:
  // a file replaced by a rename keeps its old inode in the snapshot), so a `latest` that names a
  // checkpoint never goes without it; the snapshot is taken again until no file changed while it
  // was taken.
  const fs::path snapshot = cache_dir + ".snapshot";
  bool consistent = false;
  std::map<std::string, std::tuple<uint64_t, uint64_t, int64_t>> before;
  for (int attempt = 0; attempt < 20 && !consistent; ++attempt) {
    fs::remove_all(snapshot, ec);
    before = ListFiles(cache_dir);
    for (const auto& [rel, stamp] : before) {
      fs::create_directories((snapshot / rel).parent_path(), ec);
      fs::create_hard_link(fs::path(cache_dir) / rel, snapshot / rel, ec);
    }
    consistent = before == ListFiles(cache_dir);
  }
  if (!consistent) {
    return absl::UnavailableError(
        fmt::format("bucket {}: the cache kept changing; written back next time", m.name));
  }
  // The newest file (a checkpoint's `latest`, written after the checkpoint it names) goes last:
  // everything else first, in parallel, then the rest.
  std::string newest;
  int64_t newest_time = INT64_MIN;
  for (const auto& [rel, stamp] : before) {
    if (std::get<2>(stamp) >= newest_time) {
      newest_time = std::get<2>(stamp);
      newest = rel;
    }
  }
  absl::Status s = absl::OkStatus();
  if (!newest.empty()) {
    std::string pattern = "/";
    for (char c : newest) {
      if (std::string_view("\\*?[]{}").find(c) != std::string_view::npos) pattern += '\\';
      pattern += c;
    }
    s = Rclone({"copy", snapshot.string(), RemotePath(m), "--exclude", pattern});
  }
  if (s.ok()) s = Rclone({"copy", snapshot.string(), RemotePath(m)});
  fs::remove_all(snapshot, ec);
  return s;
}

absl::Status Storage::Prepare(const spec::StorageMount& m, bool upload) const {
  RETURN_IF_ERROR(CanReach(m));
  if (StoreOf(m) == "s3") {
    absl::Status made = Rclone({"mkdir", fmt::format("{}:{}", kS3Remote, m.name)});
    if (!made.ok()) {
      return absl::UnavailableError(
          fmt::format("bucket {}: cannot make it: {}", m.name, std::string(made.message())));
    }
    if (upload && !m.source.empty()) {
      absl::Status copied = Rclone({"copy", m.source, RemotePath(m)});
      if (!copied.ok()) {
        return absl::UnavailableError(fmt::format("bucket {}: uploading file_mounts.{}.source: {}",
                                                  m.name, m.path, std::string(copied.message())));
      }
    }
    return absl::OkStatus();
  }
  const fs::path bucket = LocalBucket(m.name);
  std::error_code ec;
  fs::create_directories(bucket / m.prefix, ec);
  if (ec) {
    return absl::InternalError(
        fmt::format("bucket {}: cannot create {}: {}", m.name, bucket.string(), ec.message()));
  }
  if (upload && !m.source.empty()) {
    absl::Status s = CopyInto(m.source, bucket / m.prefix);
    if (!s.ok()) {
      return absl::InternalError(fmt::format("bucket {}: uploading file_mounts.{}.source: {}",
                                             m.name, m.path, std::string(s.message())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Storage::Attach(const spec::StorageMount& m,
                                            const std::string& copy_dir) const {
  RETURN_IF_ERROR(CanReach(m));
  std::error_code ignored;
  if (StoreOf(m) == "s3") {
    // COPY: the node's own copy; MOUNT_CACHED: the node's cache, written back (WriteBack).
    fs::remove_all(copy_dir, ignored);
    fs::create_directories(copy_dir, ignored);
    absl::Status s = Rclone({"copy", RemotePath(m), copy_dir});
    if (!s.ok()) {
      return absl::UnavailableError(
          fmt::format("bucket {}: downloading it: {}", m.name, std::string(s.message())));
    }
    return copy_dir;
  }
  fs::path bucket = LocalBucket(m.name);
  if (!m.prefix.empty()) bucket /= m.prefix;
  std::error_code ec;
  if (!fs::is_directory(bucket, ec)) {
    return absl::NotFoundError(fmt::format("bucket {} has no folder {}", m.name, bucket.string()));
  }
  if (m.mode != spec::StorageMode::kCopy) return bucket.string();
  fs::remove_all(copy_dir, ec);
  RETURN_IF_ERROR(CopyInto(bucket, copy_dir));
  return copy_dir;
}

absl::StatusOr<std::vector<Bucket>> Storage::List() const {
  std::vector<Bucket> out;
  std::error_code ec;
  if (fs::is_directory(local_root_, ec)) {
    for (const auto& entry : fs::directory_iterator(local_root_, ec)) {
      if (!entry.is_directory(ec)) continue;
      Bucket b{"local", entry.path().filename().string(), 0, 0, entry.path().string()};
      for (auto it = fs::recursive_directory_iterator(entry.path(), ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec)) {
          ++b.objects;
          b.bytes += static_cast<int64_t>(it->file_size(ec));
        }
      }
      out.push_back(std::move(b));
    }
  }
  if (settings_.s3) {
    const std::vector<std::string> args = {"lsjson", std::string(kS3Remote) + ":", "--dirs-only"};
    ASSIGN_OR_RETURN(RcloneResult r, RunRclone(*settings_.s3, args));
    if (r.code != 0) return absl::UnavailableError(RcloneError(args, r));
    const auto listed = nlohmann::json::parse(r.out, nullptr, false);
    for (const auto& item : listed.is_array() ? listed : nlohmann::json::array()) {
      Bucket b{"s3", item.value("Path", ""), 0, 0,
               settings_.s3->endpoint.empty() ? "aws" : settings_.s3->endpoint};
      const std::vector<std::string> size = {"size", fmt::format("{}:{}", kS3Remote, b.name),
                                             "--json"};
      ASSIGN_OR_RETURN(RcloneResult sized, RunRclone(*settings_.s3, size));
      const auto counted = nlohmann::json::parse(sized.out, nullptr, false);
      if (counted.is_object()) {
        b.objects = counted.value("count", int64_t{0});
        b.bytes = counted.value("bytes", int64_t{0});
      }
      out.push_back(std::move(b));
    }
  }
  std::sort(out.begin(), out.end(), [](const Bucket& a, const Bucket& b) {
    return std::tie(a.store, a.name) < std::tie(b.store, b.name);
  });
  return out;
}

absl::Status Storage::Delete(const std::string& store, const std::string& name) const {
  if (store == "s3" && settings_.s3) {
    if (name.empty() || name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format("'{}' is not a bucket name", name));
    }
    const std::vector<std::string> args = {"purge", fmt::format("{}:{}", kS3Remote, name)};
    ASSIGN_OR_RETURN(RcloneResult r, RunRclone(*settings_.s3, args));
    if (r.code == 0) return absl::OkStatus();
    if (r.err.find("not found") != std::string::npos ||
        r.err.find("NoSuchBucket") != std::string::npos) {
      return absl::NotFoundError(fmt::format("no bucket '{}' in the s3 store", name));
    }
    return absl::UnavailableError(RcloneError(args, r));
  }
  if (store != "local") {
    return absl::FailedPreconditionError(
        fmt::format("store '{}' is not configured on this server", store));
  }
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(fmt::format("'{}' is not a bucket name", name));
  }
  const fs::path bucket = LocalBucket(name);
  std::error_code ec;
  if (!fs::is_directory(bucket, ec)) {
    return absl::NotFoundError(fmt::format("no bucket '{}' in the {} store", name, store));
  }
  fs::remove_all(bucket, ec);
  if (ec) {
    return absl::InternalError(fmt::format("cannot delete {}: {}", bucket.string(), ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace awan::storage
