// Google Vertex AI as a managed endpoint (issue 12): OpenAI requests as Gemini generateContent
// bodies and the answers back — generateContent's JSON to a chat/text completion,
// streamGenerateContent's SSE (`?alt=sse`) to OpenAI's SSE — and the OAuth 2.0 access token from a
// service-account key (an RS256-signed JWT exchanged at the key's token_uri, RFC 7523), as Google's
// "Using OAuth 2.0 for Server to Server Applications" describes. Follows the Vertex AI REST
// reference, API version v1 (projects.locations.publishers.models.generateContent /
// streamGenerateContent). Pure, but for the clock passed in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace awan::gateway {

// contents (user / model turns, consecutive turns of one role merged), systemInstruction from
// system messages, generationConfig from max_tokens, temperature, top_p, stop.
absl::StatusOr<std::string> OpenAiToGemini(std::string_view body);

// A GenerateContentResponse as an OpenAI completion: the first candidate's text, its finishReason
// (STOP → stop, MAX_TOKENS → length, SAFETY and other blocks → content_filter), usageMetadata.
absl::StatusOr<std::string> GeminiToOpenAi(std::string_view body, std::string_view model, bool chat,
                                           std::string_view id, int64_t created);

// streamGenerateContent?alt=sse as OpenAI's SSE, fed bytes as they arrive: a chunk per text part,
// the finish chunk, the usage chunk when asked, and `[DONE]` at the end (Finish).
class GeminiSseToOpenAi {
 public:
  GeminiSseToOpenAi(std::string model, bool chat, std::string id, int64_t created,
                    bool include_usage);
  std::string Feed(std::string_view bytes);
  std::string Finish();  // after the upstream's last byte

 private:
  std::string OnEvent(std::string_view data);
  std::string Chunk(std::string_view choice_json) const;
  std::string model_, id_, buffer_, usage_;
  bool chat_, include_usage_, started_ = false, finished_ = false;
  int64_t created_;
};

// A service-account key (the JSON file Google issues: client_email, private_key, private_key_id,
// token_uri).
struct ServiceAccount {
  std::string client_email, private_key, private_key_id, token_uri;
};
absl::StatusOr<ServiceAccount> ParseServiceAccount(std::string_view json);

// The signed JWT to exchange for an access token: iss = client_email, scope cloud-platform,
// aud = token_uri, iat = now, exp = now + 1 h; RS256 with the key's private key.
absl::StatusOr<std::string> JwtAssertion(const ServiceAccount& sa, int64_t now_s);

// The token endpoint's body for `assertion` (grant_type jwt-bearer, form-encoded), and its answer
// read: the access token and its lifetime in seconds.
std::string TokenRequestBody(std::string_view assertion);
absl::StatusOr<std::pair<std::string, int64_t>> ParseTokenAnswer(std::string_view body);

}  // namespace awan::gateway
