// The local store on a real folder: buckets made and uploaded once, attached as the bucket itself
// (MOUNT) or a copy (COPY), listed and deleted.
#include "awan/storage/storage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/command.h"
#include "support/s3_server.h"

namespace awan::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("awan-storage-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "source" / "sub");
    std::ofstream(dir_ / "source" / "a.txt") << "alpha";
    std::ofstream(dir_ / "source" / "sub" / "b.txt") << "beta";
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string Slurp(const fs::path& p) { return awan::testing::ReadFile(p.string()); }
  spec::StorageMount Mount(const std::string& name, spec::StorageMode mode) {
    spec::StorageMount m;
    m.path = "/ckpt";
    m.name = name;
    m.mode = mode;
    return m;
  }
  fs::path dir_;
};

TEST_F(StorageTest, TheLocalStoreUploadsOnceAndMountsTheBucketItself) {
  Storage storage(Settings{}, dir_.string());  // the default: local, under $AWAN_HOME/buckets
  spec::StorageMount m = Mount("ckpt-1", spec::StorageMode::kMount);
  m.source = (dir_ / "source").string();
  ASSERT_TRUE(storage.Prepare(m, /*upload=*/true).ok());
  const fs::path bucket = dir_ / "buckets" / "ckpt-1";
  EXPECT_EQ(Slurp(bucket / "a.txt"), "alpha");
  EXPECT_EQ(Slurp(bucket / "sub" / "b.txt"), "beta");
  EXPECT_FALSE(fs::exists(bucket / "a.txt.awan-partial"));
  // A job's write, then a recovery's Prepare (no upload): the job's file is not overwritten.
  std::ofstream(bucket / "a.txt") << "written by the job";
  ASSERT_TRUE(storage.Prepare(m, /*upload=*/false).ok());
  EXPECT_EQ(Slurp(bucket / "a.txt"), "written by the job");
  auto folder = storage.Attach(m, (dir_ / "copy").string());
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(*folder, bucket.string());  // MOUNT: the bucket, not a copy
  EXPECT_FALSE(fs::exists(dir_ / "copy"));
}

TEST_F(StorageTest, CopyGivesEachNodeItsOwnCopyAndPrefixesSelectAFolder) {
  Settings settings;
  settings.local_root = (dir_ / "root").string();
  Storage storage(settings, "/unused");
  spec::StorageMount m = Mount("data", spec::StorageMode::kCopy);
  m.source = (dir_ / "source").string();
  ASSERT_TRUE(storage.Prepare(m, true).ok());
  auto copy = storage.Attach(m, (dir_ / "node-0.storage" / "0").string());
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(*copy, (dir_ / "node-0.storage" / "0").string());
  std::ofstream(fs::path(*copy) / "a.txt") << "changed on the node";
  EXPECT_EQ(Slurp(dir_ / "root" / "data" / "a.txt"), "alpha");  // the bucket is untouched
  spec::StorageMount sub = Mount("data", spec::StorageMode::kMount);
  sub.prefix = "sub";
  auto folder = storage.Attach(sub, "");
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(*folder, (dir_ / "root" / "data" / "sub").string());
}

TEST_F(StorageTest, ListDeleteAndUnconfiguredStores) {
  Storage storage(Settings{}, dir_.string());
  EXPECT_TRUE(storage.List()->empty());
  spec::StorageMount m = Mount("ckpt-2", spec::StorageMode::kMount);
  m.source = (dir_ / "source").string();
  ASSERT_TRUE(storage.Prepare(m, true).ok());
  auto list = storage.List();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "ckpt-2");
  EXPECT_EQ((*list)[0].store, "local");
  EXPECT_EQ((*list)[0].objects, 2);
  EXPECT_EQ((*list)[0].bytes, 9);  // "alpha" + "beta"
  EXPECT_EQ(storage.Delete("local", "nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(storage.Delete("local", "..").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(storage.Delete("local", "ckpt-2").ok());
  EXPECT_TRUE(storage.List()->empty());
  spec::StorageMount s3 = Mount("remote", spec::StorageMode::kMount);
  s3.store = "s3";
  EXPECT_THAT(std::string(storage.CanReach(s3).message()),
              HasSubstr("store 's3' is not configured on this server"));
}

// The s3 store against a real S3-compatible server on loopback (moto), through rclone.
class S3StorageTest : public StorageTest {
 protected:
  void SetUp() override {
    StorageTest::SetUp();
    if (!server_.Available()) GTEST_SKIP() << server_.Why();
    setenv("AWAN_TEST_S3_KEY", awan::testing::S3Server::kKeyId, 1);
    setenv("AWAN_TEST_S3_SECRET", awan::testing::S3Server::kSecret, 1);
    settings_.local_root = (dir_ / "local").string();
    S3Settings s3;
    s3.endpoint = server_.endpoint();
    s3.access_key_id_env = "AWAN_TEST_S3_KEY";
    s3.secret_access_key_env = "AWAN_TEST_S3_SECRET";
    settings_.s3 = s3;
  }
  spec::StorageMount S3Mount(const std::string& name, spec::StorageMode mode) {
    spec::StorageMount m = Mount(name, mode);
    m.store = "s3";
    return m;
  }
  awan::testing::S3Server server_;
  Settings settings_;
};

TEST_F(S3StorageTest, CopyUploadsOnceAndGivesEachNodeItsOwnCopy) {
  Storage storage(settings_, dir_.string());
  spec::StorageMount m = S3Mount("dataset-1", spec::StorageMode::kCopy);
  m.source = (dir_ / "source").string();
  ASSERT_TRUE(storage.Prepare(m, /*upload=*/true).ok()) << storage.Prepare(m, true);
  auto copy = storage.Attach(m, (dir_ / "node-0.storage" / "0").string());
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(Slurp(fs::path(*copy) / "a.txt"), "alpha");
  EXPECT_EQ(Slurp(fs::path(*copy) / "sub" / "b.txt"), "beta");
  // Listed with its objects; a sub-path (s3://dataset-1/sub) selects a folder.
  auto list = storage.List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].store, "s3");
  EXPECT_EQ((*list)[0].name, "dataset-1");
  EXPECT_EQ((*list)[0].objects, 2);
  EXPECT_EQ((*list)[0].bytes, 9);
  spec::StorageMount sub = m;
  sub.prefix = "sub";
  auto only_sub = storage.Attach(sub, (dir_ / "node-1.storage" / "0").string());
  ASSERT_TRUE(only_sub.ok());
  EXPECT_EQ(Slurp(fs::path(*only_sub) / "b.txt"), "beta");
  EXPECT_FALSE(fs::exists(fs::path(*only_sub) / "a.txt"));
  ASSERT_TRUE(storage.Delete("s3", "dataset-1").ok());
  EXPECT_EQ(storage.Delete("s3", "dataset-1").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(storage.List()->empty());
}

TEST_F(S3StorageTest, MountCachedWritesTheCacheBackOldestFirst) {
  Storage storage(settings_, dir_.string());
  spec::StorageMount m = S3Mount("ckpt-s3", spec::StorageMode::kMountCached);
  ASSERT_TRUE(storage.WritesBack(m));
  ASSERT_TRUE(storage.Prepare(m, false).ok());
  const fs::path cache = dir_ / "node-0.storage" / "0";
  auto attached = storage.Attach(m, cache.string());
  ASSERT_TRUE(attached.ok()) << attached.status();
  // A checkpoint, then `latest` naming it (written after it).
  std::ofstream(cache / "step-1.json") << "{\"step\": 1}";
  std::ofstream(cache / "latest") << "step-1.json\n";
  ASSERT_TRUE(storage.WriteBack(m, cache.string()).ok());
  // A second node (or the next start) downloads what the first wrote back.
  const fs::path other = dir_ / "node-1.storage" / "0";
  ASSERT_TRUE(storage.Attach(m, other.string()).ok());
  EXPECT_EQ(Slurp(other / "latest"), "step-1.json\n");
  EXPECT_EQ(Slurp(other / "step-1.json"), "{\"step\": 1}");
  // MOUNT of an s3 bucket is refused with the fix; an unconfigured store too.
  EXPECT_THAT(std::string(storage.CanReach(S3Mount("x-y-z", spec::StorageMode::kMount)).message()),
              HasSubstr("use MOUNT_CACHED"));
  spec::StorageMount gcs = Mount("abc", spec::StorageMode::kCopy);
  gcs.store = "gcs";
  EXPECT_THAT(std::string(storage.CanReach(gcs).message()), HasSubstr("not configured"));
}

}  // namespace
}  // namespace awan::storage
