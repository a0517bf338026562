// SigV4 against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite, as in
// docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): credentials AKIDEXAMPLE,
// region us-east-1, service "service", 2015-08-30T12:36:00Z; each case's canonical request, string
// to sign and Authorization header as the suite gives them.
#include "awan/gateway/sigv4.h"

#include <gtest/gtest.h>

namespace awan::gateway {
namespace {

const AwsCredentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr std::string_view kDate = "20150830T123600Z";

SigV4 Sign(std::string method, std::string path, std::string query,
           std::vector<std::pair<std::string, std::string>> extra = {}) {
  SigV4Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", std::string(kDate)}};
  for (auto& h : extra) r.headers.push_back(std::move(h));
  return SignV4(r, kSuite, "us-east-1", "service", kDate);
}

std::string Authorization(std::string_view signed_headers, std::string_view signature) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         std::string(signed_headers) + ", Signature=" + std::string(signature);
}

TEST(SigV4Test, GetVanilla) {
  const SigV4 s = Sign("GET", "/", "");
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            Authorization("host;x-amz-date",
                          "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

TEST(SigV4Test, QueriesAreSortedAndEncoded) {
  EXPECT_EQ(Sign("GET", "/", "Param2=value2&Param1=value1").signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");  // query-order
  EXPECT_EQ(Sign("GET", "/", "Param1=value1").signature,
            "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");  // empty-query-key
  EXPECT_EQ(Sign("GET", "/", "%E1%88%B4=bar").signature,
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");  // utf8-query
}

TEST(SigV4Test, PathsAreNormalisedAndEncoded) {
  const std::string vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  EXPECT_EQ(Sign("GET", "/example/..", "").signature, vanilla);               // get-relative
  EXPECT_EQ(Sign("GET", "/example1/example2/../..", "").signature, vanilla);  // relative-relative
  EXPECT_EQ(Sign("GET", "//", "").signature, vanilla);                        // get-slash
  EXPECT_EQ(Sign("GET", "/./", "").signature, vanilla);                       // slash-dot-slash
  EXPECT_EQ(Sign("GET", "/./example", "").signature,
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5");  // pointless-dot
  EXPECT_EQ(Sign("GET", "//example//", "").signature,
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84");  // get-slashes
  EXPECT_EQ(Sign("GET", "/example space/", "").signature,
            "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");  // get-space
  EXPECT_EQ(Sign("GET", "/\xe1\x88\xb4", "").signature,
            "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");  // get-utf8
}

TEST(SigV4Test, PostsWithHeadersAndASessionToken) {
  EXPECT_EQ(Sign("POST", "/", "").signature,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");  // post-vanilla
  const SigV4 value_case = Sign("POST", "/", "", {{"My-Header1", "VALUE1"}});
  EXPECT_EQ(value_case.authorization,
            Authorization("host;my-header1;x-amz-date",
                          "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"));
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpS"
      "PfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
      "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT"
      "7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKml"
      "zm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  const SigV4 sts = Sign("POST", "/", "", {{"X-Amz-Security-Token", token}});
  EXPECT_EQ(sts.authorization,
            Authorization("host;x-amz-date;x-amz-security-token",
                          "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"));
}

TEST(SigV4Test, BedrockPathsAreEncodedOnceMore) {
  // A model id's ':' is %3A on the wire and %253A in the canonical URI (every service but S3).
  const SigV4 s = Sign("POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find('\n', 5)),
            "POST\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
}

}  // namespace
}  // namespace awan::gateway
