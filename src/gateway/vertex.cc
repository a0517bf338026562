#include "awan/gateway/vertex.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "awan/gateway/managed.h"
#include "awan/gateway/sigv4.h"
#include "openai_json.h"

namespace awan::gateway {
namespace {

using J = nlohmann::ordered_json;

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;  // no padding (JWT)
}

std::string FinishReasonOf(std::string_view reason) {
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "STOP" || reason == "FINISH_REASON_UNSPECIFIED" || reason.empty()) return "stop";
  return "content_filter";  // SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, ...
}

// The first candidate's text parts, joined.
std::string CandidateText(const J& response) {
  std::string text;
  if (!response.contains("candidates") || !response["candidates"].is_array() ||
      response["candidates"].empty()) {
    return text;
  }
  const J& c = response["candidates"][0];
  if (c.contains("content") && c["content"].contains("parts")) {
    for (const auto& part : c["content"]["parts"]) {
      if (part.contains("text") && part["text"].is_string())
        text += part["text"].get<std::string>();
    }
  }
  return text;
}

std::string CandidateFinish(const J& response) {
  if (!response.contains("candidates") || !response["candidates"].is_array() ||
      response["candidates"].empty()) {
    return "";
  }
  return response["candidates"][0].value("finishReason", "");
}

J Usage(const J& meta) {
  return J{{"prompt_tokens", meta.value("promptTokenCount", 0)},
           {"completion_tokens", meta.value("candidatesTokenCount", 0)},
           {"total_tokens", meta.value("totalTokenCount", 0)}};
}

}  // namespace

absl::StatusOr<std::string> OpenAiToGemini(std::string_view body) {
  auto chat = ReadChatRequest(body, "Vertex AI");
  if (!chat.ok()) return chat.status();
  J contents = J::array(), system = J::array();
  for (const auto& [role, texts] : chat->turns) {
    J parts = J::array();
    for (const std::string& t : texts) parts.push_back({{"text", t}});
    contents.push_back({{"role", role == "assistant" ? "model" : "user"}, {"parts", parts}});
  }
  for (const std::string& t : chat->system) system.push_back({{"text", t}});
  J out{{"contents", contents}};
  if (!system.empty()) out["systemInstruction"] = {{"parts", system}};
  J config = J::object();
  if (chat->max_tokens) config["maxOutputTokens"] = *chat->max_tokens;
  if (chat->temperature) config["temperature"] = *chat->temperature;
  if (chat->top_p) config["topP"] = *chat->top_p;
  if (!chat->stop.empty()) config["stopSequences"] = chat->stop;
  if (!config.empty()) out["generationConfig"] = config;
  return out.dump();
}

absl::StatusOr<std::string> GeminiToOpenAi(std::string_view body, std::string_view model, bool chat,
                                           std::string_view id, int64_t created) {
  const J j = J::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("candidates")) {
    return absl::InvalidArgumentError("not a GenerateContentResponse (no 'candidates')");
  }
  J choice{{"index", 0}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", CandidateText(j)}};
  } else {
    choice["text"] = CandidateText(j);
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = FinishReasonOf(CandidateFinish(j));
  J out{{"id", id},
        {"object", chat ? "chat.completion" : "text_completion"},
        {"created", created},
        {"model", model},
        {"choices", J::array({choice})}};
  if (j.contains("usageMetadata")) out["usage"] = Usage(j["usageMetadata"]);
  return out.dump();
}

GeminiSseToOpenAi::GeminiSseToOpenAi(std::string model, bool chat, std::string id, int64_t created,
                                     bool include_usage)
    : model_(std::move(model)),
      id_(std::move(id)),
      chat_(chat),
      include_usage_(include_usage),
      created_(created) {}

std::string GeminiSseToOpenAi::Chunk(std::string_view choice_json) const {
  J c{{"id", id_},
      {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
      {"created", created_},
      {"model", model_}};
  c["choices"] = choice_json.empty() ? J::array() : J::array({J::parse(choice_json)});
  return "data: " + c.dump() + "\n\n";
}

std::string GeminiSseToOpenAi::Feed(std::string_view bytes) {
  buffer_.append(bytes);
  std::string out;
  for (;;) {  // events end with a blank line ("\n\n" or "\r\n\r\n")
    size_t end = buffer_.find("\n\n");
    size_t skip = 2;
    const size_t crlf = buffer_.find("\r\n\r\n");
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) {
      end = crlf;
      skip = 4;
    }
    if (end == std::string::npos) break;
    const std::string event = buffer_.substr(0, end);
    buffer_.erase(0, end + skip);
    std::string data;
    size_t at = 0;
    while (at < event.size()) {
      size_t line_end = event.find('\n', at);
      if (line_end == std::string::npos) line_end = event.size();
      std::string_view line(event.data() + at, line_end - at);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (line.starts_with("data:")) {
        line.remove_prefix(5);
        if (line.starts_with(' ')) line.remove_prefix(1);
        data += std::string(line);
      }
      at = line_end + 1;
    }
    if (!data.empty()) out += OnEvent(data);
  }
  return out;
}

std::string GeminiSseToOpenAi::OnEvent(std::string_view data) {
  const J j = J::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "";
  std::string out;
  const auto delta = [&](const J& d) { return Chunk(openai::DeltaChoice(d, chat_).dump()); };
  if (j.contains("error")) {
    finished_ = true;
    const J& e = j["error"];
    const std::string message = e.is_object() ? e.value("message", "") : e.dump();
    return "data: " +
           J{{"error",
              {{"message", "Vertex AI: " + message}, {"type", "upstream_error"}, {"code", 502}}}}
               .dump() +
           "\n\n";
  }
  const std::string text = CandidateText(j);
  if (chat_ && !started_) out += delta(J{{"role", "assistant"}, {"content", ""}});
  started_ = true;
  if (!text.empty()) out += delta(J{{"content", text}});
  if (j.contains("usageMetadata")) usage_ = Usage(j["usageMetadata"]).dump();
  if (const std::string reason = CandidateFinish(j); !reason.empty() && !finished_) {
    J choice{{"index", 0}, {"finish_reason", FinishReasonOf(reason)}};
    if (chat_) {
      choice["delta"] = J::object();
    } else {
      choice["text"] = "";
      choice["logprobs"] = nullptr;
    }
    out += Chunk(choice.dump());
    finished_ = true;
  }
  return out;
}

std::string GeminiSseToOpenAi::Finish() {
  std::string out;
  if (!finished_) return std::string(kUpstreamBrokeOffEvent);  // no finish reason: it broke off
  if (include_usage_ && !usage_.empty()) {
    J c = J::parse(Chunk("").substr(6));
    c["usage"] = J::parse(usage_);
    out += "data: " + c.dump() + "\n\n";
  }
  return out + "data: [DONE]\n\n";
}

absl::StatusOr<ServiceAccount> ParseServiceAccount(std::string_view json) {
  const J j = J::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the service-account key is not JSON");
  }
  ServiceAccount sa;
  for (const auto& [field, into] :
       {std::pair{"client_email", &sa.client_email}, std::pair{"private_key", &sa.private_key},
        std::pair{"private_key_id", &sa.private_key_id}, std::pair{"token_uri", &sa.token_uri}}) {
    if (j.contains(field) && j[field].is_string()) *into = j[field].get<std::string>();
  }
  if (sa.token_uri.empty()) sa.token_uri = "https://oauth2.googleapis.com/token";
  if (sa.client_email.empty() || sa.private_key.empty()) {
    return absl::InvalidArgumentError(
        "the service-account key needs client_email and private_key (a key file from `gcloud iam "
        "service-accounts keys create`)");
  }
  return sa;
}

absl::StatusOr<std::string> JwtAssertion(const ServiceAccount& sa, int64_t now_s) {
  J header{{"alg", "RS256"}, {"typ", "JWT"}};
  if (!sa.private_key_id.empty()) header["kid"] = sa.private_key_id;
  const J claims{{"iss", sa.client_email},
                 {"scope", "https://www.googleapis.com/auth/cloud-platform"},
                 {"aud", sa.token_uri},
                 {"iat", now_s},
                 {"exp", now_s + 3600}};
  const std::string signing_input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(sa.private_key.data(), static_cast<int>(sa.private_key.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return absl::InvalidArgumentError("the service-account private_key is not a PEM key");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t length = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("cannot sign the JWT with the service-account key");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("cannot sign the JWT with the service-account key");
  }
  signature.resize(length);
  return signing_input + "." + Base64Url(signature);
}

std::string TokenRequestBody(std::string_view assertion) {
  return "grant_type=" + AwsUriEncode("urn:ietf:params:oauth:grant-type:jwt-bearer", false) +
         "&assertion=" + AwsUriEncode(assertion, false);
}

absl::StatusOr<std::pair<std::string, int64_t>> ParseTokenAnswer(std::string_view body) {
  const J j = J::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("access_token") ||
      !j["access_token"].is_string()) {
    return absl::UnavailableError("the token endpoint's answer has no access_token");
  }
  int64_t expires = 3600;
  if (j.contains("expires_in") && j["expires_in"].is_number_integer()) {
    expires = j["expires_in"].get<int64_t>();
  }
  return std::pair{j["access_token"].get<std::string>(), expires};
}

}  // namespace awan::gateway
