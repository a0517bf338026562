#include "awan/common/text.h"

#include <gtest/gtest.h>

namespace awan {
namespace {

TEST(TextTest, EditDistanceIgnoresCase) {
  EXPECT_EQ(EditDistance("H100", "h100"), 0u);
  EXPECT_EQ(EditDistance("H100", "H200"), 1u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(TextTest, ClosestMatchPrefersPrefixOnTies) {
  const std::vector<std::string> names = {"A10", "H100", "H200"};
  EXPECT_EQ(ClosestMatch("H10", names), "H100");
  EXPECT_EQ(ClosestMatch("resource", std::vector<std::string>{"resources", "run"}), "resources");
  EXPECT_EQ(ClosestMatch("zzzzzz", names), std::nullopt);
}

TEST(TextTest, DidYouMeanIsEmptyForExactOrFarWords) {
  const std::vector<std::string> names = {"accelerators", "cpus"};
  EXPECT_EQ(DidYouMean("acelerators", names), " (did you mean 'accelerators'?)");
  EXPECT_EQ(DidYouMean("cpus", names), "");
  EXPECT_EQ(DidYouMean("qqqqqqqq", names), "");
}

TEST(TextTest, FormatUsdGroupsThousands) {
  EXPECT_EQ(FormatUsd(0), "0.00");
  EXPECT_EQ(FormatUsd(31.916), "31.92");
  EXPECT_EQ(FormatUsd(1234.5), "1,234.50");
  EXPECT_EQ(FormatUsd(1234567.891), "1,234,567.89");
  EXPECT_EQ(FormatUsd(-1500), "-1,500.00");
}

TEST(TextTest, ParseNumberRejectsTrailingGarbage) {
  EXPECT_EQ(ParseNumber("8"), 8.0);
  EXPECT_EQ(ParseNumber(" 2.5 "), 2.5);
  EXPECT_EQ(ParseNumber("1e21"), 1e21);
  EXPECT_EQ(ParseNumber("8x"), std::nullopt);
  EXPECT_EQ(ParseNumber(""), std::nullopt);
  EXPECT_EQ(ParseNumber("nan"), std::nullopt);
}

TEST(TextTest, JoinLimitedSaysHowManyAreLeftOut) {
  const std::vector<std::string> items = {"a", "b", "c", "d"};
  EXPECT_EQ(JoinLimited(items, 10), "a, b, c, d");
  EXPECT_EQ(JoinLimited(items, 2), "a, b (and 2 more)");
}

}  // namespace
}  // namespace awan
