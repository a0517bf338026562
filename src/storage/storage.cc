#include "awan/storage/storage.h"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include "awan/common/status_macros.h"

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
  return absl::FailedPreconditionError(fmt::format(
      "file_mounts.{}: store '{}' is not configured on this server; add `storage: {{{}: ...}}` "
      "to its fleet config (docs/storage.md), or use store: local",
      m.path, store, store));
}

absl::Status Storage::Prepare(const spec::StorageMount& m, bool upload) const {
  RETURN_IF_ERROR(CanReach(m));
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
  if (!fs::is_directory(local_root_, ec)) return out;
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
  std::sort(out.begin(), out.end(),
            [](const Bucket& a, const Bucket& b) { return a.name < b.name; });
  return out;
}

absl::Status Storage::Delete(const std::string& store, const std::string& name) const {
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
