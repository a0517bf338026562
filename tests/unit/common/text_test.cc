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

namespace awan {
namespace {

TEST(Utf8Test, FindsTheFirstBadByte) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("caf\xe9"), 3u);           // latin-1
  EXPECT_EQ(FindInvalidUtf8("ab\xc3"), 2u);            // truncated sequence
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("x\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("ok\x80"), 2u);            // a lone continuation byte
  EXPECT_EQ(Utf8Error("a: 1\nb: caf\xe9\n", "t.yaml"),
            "t.yaml:2:7: the file is not valid UTF-8 (byte 0xE9); save it as UTF-8 (e.g. iconv -f "
            "latin1 -t utf-8)");
  EXPECT_EQ(Utf8Error("fine", "t.yaml"), "");
}

}  // namespace
}  // namespace awan
