// AWS Signature Version 4 (issue 12: Amazon Bedrock as a managed endpoint): the canonical request,
// the string to sign and the Authorization header, as AWS's "Signature Version 4 signing process"
// describes them (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) and checked
// against AWS's published test suite (tests/unit/gateway/sigv4_test.cc). Pure.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace awan::gateway {

struct AwsCredentials {
  std::string access_key_id, secret_access_key;
  std::string session_token;  // temporary credentials; sent as X-Amz-Security-Token
};

struct SigV4Request {
  std::string method;  // "POST"
  std::string path;    // as sent on the wire (already percent-encoded where it must be)
  std::string query;   // as sent, without '?': "a=1&b=2" ("" for none)
  // Every header to sign (Host and X-Amz-Date included; X-Amz-Security-Token when a session token
  // is used); names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload;
};

struct SigV4 {
  std::string canonical_request, string_to_sign, signature;
  std::string authorization;  // the Authorization header's value
};

// Signs `request` for `service` in `region` at `amz_date` (ISO 8601 basic: "20150830T123600Z").
// The canonical URI is the normalised path (dot segments removed, repeated slashes collapsed)
// URI-encoded once more, as AWS does for every service but S3.
SigV4 SignV4(const SigV4Request& request, const AwsCredentials& credentials,
             std::string_view region, std::string_view service, std::string_view amz_date);

// AWS's URI encoding: unreserved characters (A–Z a–z 0–9 - _ . ~) kept, every other byte %XX
// (upper-case hex); '/' kept when `keep_slash`.
std::string AwsUriEncode(std::string_view text, bool keep_slash);

}  // namespace awan::gateway
