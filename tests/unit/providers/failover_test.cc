#include "awan/providers/failover.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace awan::providers {
namespace {

using ::testing::HasSubstr;

const Offer kZoned{"us-east-1", "us-east-1a", "p5", "H100", 8, false, 1};
const Offer kZoneless{"eastus", "", "nd", "H100", 8, false, 1};

TEST(FailoverTest, ErrorKindsBlockTheRightScope) {
  auto capacity = BlockFor("aws", kZoned, {ErrorKind::kCapacityUnavailable, "full"}, 1000, 60000);
  ASSERT_TRUE(capacity.has_value());
  EXPECT_EQ(capacity->region, "us-east-1");
  EXPECT_EQ(capacity->zone, "us-east-1a");
  EXPECT_EQ(capacity->until, 61000);
  auto zoneless = BlockFor("azure", kZoneless, {ErrorKind::kCapacityUnavailable, "full"}, 0, 10);
  EXPECT_EQ(zoneless->region, "eastus");
  EXPECT_EQ(zoneless->zone, "");
  auto quota = BlockFor("aws", kZoned, {ErrorKind::kQuotaExceeded, "q"}, 0, 10);
  EXPECT_EQ(quota->region, "us-east-1");
  EXPECT_EQ(quota->zone, "");
  for (ErrorKind k : {ErrorKind::kProviderDown, ErrorKind::kAuthFailed}) {
    auto provider = BlockFor("aws", kZoned, {k, "x"}, 0, 10);
    EXPECT_EQ(provider->provider, "aws");
    EXPECT_EQ(provider->region, "");
  }
  EXPECT_FALSE(BlockFor("aws", kZoned, {ErrorKind::kTransient, "x"}, 0, 10).has_value());
  EXPECT_FALSE(BlockFor("aws", kZoned, {ErrorKind::kInvalidRequest, "x"}, 0, 10).has_value());
  // A region outage reported as provider_down blocks the region only.
  auto region =
      BlockFor("aws", kZoned, {ErrorKind::kProviderDown, "x", ErrorScope::kRegion}, 0, 10);
  EXPECT_EQ(region->region, "us-east-1");
  EXPECT_EQ(region->zone, "");
}

TEST(FailoverTest, BlockListExpiresAndFeedsTheOptimizer) {
  BlockList list;
  list.Add({"aws", "us-east-1", "", 5000, "quota"});
  list.Add({"gcp", "", "", 3000, "down"});
  EXPECT_TRUE(list.Blocked("aws", "us-east-1", "us-east-1b", 1000));
  EXPECT_FALSE(list.Blocked("aws", "us-west-2", "us-west-2a", 1000));
  EXPECT_TRUE(list.Blocked("gcp", "anything", "", 2999));
  EXPECT_FALSE(list.Blocked("gcp", "anything", "", 3000));
  EXPECT_EQ(list.Active(1000).size(), 2u);
  EXPECT_EQ(list.Active(4000).size(), 1u);
  list.Add({"aws", "us-east-1", "", 9000, "again"});  // extends, does not duplicate
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.Blocked("aws", "us-east-1", "", 8000));
  // A provider (region) known to be back is lifted: only its own blocks go.
  list.Add({"aws", "us-west-2", "us-west-2a", 9000, "full"});
  EXPECT_EQ(list.Lift("aws", "us-west-2"), 1u);
  EXPECT_FALSE(list.Blocked("aws", "us-west-2", "us-west-2a", 1000));
  EXPECT_TRUE(list.Blocked("aws", "us-east-1", "", 1000));
  EXPECT_EQ(list.Lift("aws", ""), 1u);
  EXPECT_FALSE(list.Blocked("aws", "us-east-1", "", 1000));
  EXPECT_TRUE(list.Blocked("gcp", "anything", "", 2000));
}

TEST(FailoverTest, ReactionsAndBackoff) {
  EXPECT_EQ(ReactionTo(ErrorKind::kTransient), Reaction::kRetry);
  EXPECT_EQ(ReactionTo(ErrorKind::kInvalidRequest), Reaction::kStop);
  EXPECT_EQ(Backoff(0, 100, 1000), 100);
  EXPECT_EQ(Backoff(3, 100, 1000), 800);
  EXPECT_EQ(Backoff(10, 100, 1000), 1000);
}

TEST(FailoverTest, AttemptsReadWell) {
  std::vector<Attempt> attempts = {
      {1, "aws", "us-east-1", "us-east-1a", "p5.48xlarge", "capacity_unavailable", "0 free"},
      {2, "gcp", "us-central1", "", "a3-highgpu-8g", "provider_down", "gcp is down"}};
  EXPECT_EQ(DescribeAttempt(attempts[0], 1),
            "attempt 1: aws us-east-1/us-east-1a p5.48xlarge: capacity_unavailable: 0 free");
  const std::string table = AttemptsTable(attempts);
  EXPECT_THAT(table, HasSubstr("aws / us-east-1 / us-east-1a / p5.48xlarge"));
  EXPECT_THAT(table, HasSubstr("provider_down"));
  EXPECT_THAT(table, HasSubstr("gcp is down"));
}

}  // namespace
}  // namespace awan::providers
