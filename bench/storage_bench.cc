// Checkpoint upload/download through awan's s3 store against a plain `rclone copy` of the same
// data, in the same run (issue 13). Needs an S3-compatible endpoint: bench/storage_bench.sh starts
// moto's server on loopback and runs this. Usage: storage_bench ENDPOINT [MiB] [files]
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "awan/storage/storage.h"

namespace fs = std::filesystem;
using awan::storage::Settings;
using awan::storage::Storage;

namespace {

double Seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void MustRun(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    fmt::print(stderr, "failed: {}\n", command);
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: storage_bench ENDPOINT [MiB] [files]\n");
    return 2;
  }
  const std::string endpoint = argv[1];
  const int mib = argc > 2 ? std::atoi(argv[2]) : 512;
  const int files = argc > 3 ? std::atoi(argv[3]) : 8;
  const fs::path dir = fs::temp_directory_path() / fmt::format("awan-storage-bench-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "ckpt");
  // A checkpoint's worth of incompressible bytes, in `files` shards.
  std::mt19937_64 rng(42);
  std::vector<uint64_t> block(1 << 17);  // 1 MiB
  for (int f = 0; f < files; ++f) {
    std::ofstream out(dir / "ckpt" / fmt::format("shard-{:02}.bin", f), std::ios::binary);
    for (int m = 0; m < mib / files; ++m) {
      for (auto& w : block) w = rng();
      out.write(reinterpret_cast<const char*>(block.data()), block.size() * sizeof(uint64_t));
    }
  }
  setenv("AWAN_BENCH_KEY", "bench", 1);
  setenv("AWAN_BENCH_SECRET", "bench", 1);
  Settings settings;
  awan::storage::S3Settings s3;
  s3.endpoint = endpoint;
  s3.access_key_id_env = "AWAN_BENCH_KEY";
  s3.secret_access_key_env = "AWAN_BENCH_SECRET";
  settings.s3 = s3;
  const Storage storage(settings, dir.string());
  awan::spec::StorageMount up;
  up.path = "/ckpt";
  up.name = "bench-awan";
  up.store = "s3";
  up.mode = awan::spec::StorageMode::kCopy;
  up.source = (dir / "ckpt").string();
  awan::spec::StorageMount cached = up;
  cached.name = "bench-awan-cache";
  cached.mode = awan::spec::StorageMode::kMountCached;
  cached.source.clear();

  // Plain rclone, with the same remote settings given the same way.
  const std::string env = fmt::format(
      "env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null RCLONE_CONFIG_B_TYPE=s3 "
      "RCLONE_CONFIG_B_PROVIDER=Other RCLONE_CONFIG_B_ENDPOINT={} RCLONE_CONFIG_B_REGION=us-east-1 "
      "RCLONE_CONFIG_B_ACCESS_KEY_ID=bench RCLONE_CONFIG_B_SECRET_ACCESS_KEY=bench",
      endpoint);
  MustRun(env + " rclone mkdir b:bench-plain");
  const double plain_up =
      Seconds([&] { MustRun(fmt::format("{} rclone copy {} b:bench-plain", env, up.source)); });
  const double plain_down = Seconds([&] {
    MustRun(fmt::format("{} rclone copy b:bench-plain {}", env, (dir / "plain-down").string()));
  });
  double awan_up = 0, awan_down = 0, awan_back = 0;
  awan_up = Seconds([&] {
    if (!storage.Prepare(up, /*upload=*/true).ok()) std::exit(1);
  });
  awan_down = Seconds([&] {
    if (!storage.Attach(up, (dir / "awan-down").string()).ok()) std::exit(1);
  });
  // A MOUNT_CACHED write-back of a fresh checkpoint (snapshot, then oldest-first upload).
  if (!storage.Prepare(cached, false).ok()) return 1;
  const fs::path cache = dir / "cache";
  if (!storage.Attach(cached, cache.string()).ok()) return 1;
  fs::copy(dir / "ckpt", cache, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  awan_back = Seconds([&] {
    if (!storage.WriteBack(cached, cache.string()).ok()) std::exit(1);
  });
  const auto rate = [&](double s) { return mib / s; };
  fmt::print("{} MiB in {} files, S3 endpoint {}\n", mib, files, endpoint);
  fmt::print("{:<44} {:>8} {:>10} {:>14}\n", "", "seconds", "MiB/s", "vs rclone");
  fmt::print("{:<44} {:>8.2f} {:>10.1f} {:>14}\n", "rclone copy (upload)", plain_up, rate(plain_up),
             "1.00x");
  fmt::print("{:<44} {:>8.2f} {:>10.1f} {:>13.2f}x\n", "awan: source uploaded (Prepare)", awan_up,
             rate(awan_up), plain_up / awan_up);
  fmt::print("{:<44} {:>8.2f} {:>10.1f} {:>13.2f}x\n", "awan: MOUNT_CACHED write-back", awan_back,
             rate(awan_back), plain_up / awan_back);
  fmt::print("{:<44} {:>8.2f} {:>10.1f} {:>14}\n", "rclone copy (download)", plain_down,
             rate(plain_down), "1.00x");
  fmt::print("{:<44} {:>8.2f} {:>10.1f} {:>13.2f}x\n", "awan: COPY attach (download)", awan_down,
             rate(awan_down), plain_down / awan_down);
  fs::remove_all(dir);
  return 0;
}
