#include "awan/gateway/managed.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <nlohmann/json.hpp>

#include "awan/gateway/bedrock.h"
#include "awan/gateway/sigv4.h"
#include "awan/gateway/vertex.h"
#include "openai_json.h"

namespace awan::gateway {

const std::vector<std::string>& ManagedKinds() {
  static const std::vector<std::string> kKinds = {"openai", "azure_openai", "bedrock", "vertex"};
  return kKinds;
}

absl::StatusOr<Url> ParseUrl(std::string_view url) {
  Url out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(fmt::format("'{}' is not an http:// or https:// URL", url));
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (out.path.find_first_of("?#") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("'{}': a base URL has no query", url));
  }
  out.port = out.tls ? 443 : 80;
  std::string_view host = authority;
  if (authority.starts_with("[")) {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(fmt::format("'{}': unclosed '[' in the host", url));
    }
    host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && !authority.starts_with(":")) {
      return absl::InvalidArgumentError(fmt::format("'{}': bad host", url));
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    authority = authority.substr(colon);
  } else {
    authority = {};
  }
  if (authority.starts_with(":")) {
    const std::string_view digits = authority.substr(1);
    int port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          fmt::format("'{}': the port must be a number from 1 to 65535", url));
    }
    out.port = port;
  }
  if (host.empty()) return absl::InvalidArgumentError(fmt::format("'{}' has no host", url));
  out.host = std::string(host);
  return out;
}

absl::Status CheckEndpoint(const ManagedEndpoint& e) {
  const auto& kinds = ManagedKinds();
  if (std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) {
    return absl::InvalidArgumentError(
        fmt::format("kind '{}' is not one of {}", e.kind, fmt::join(kinds, ", ")));
  }
  if (e.kind == "bedrock" && (e.region.empty() || e.model.empty())) {
    return absl::InvalidArgumentError(
        "a bedrock endpoint needs region and model (a model id such as "
        "anthropic.claude-3-haiku-20240307-v1:0)");
  }
  if (e.kind == "bedrock" && e.api_key.empty() &&
      (e.aws_access_key_id.empty() || e.aws_secret_access_key.empty())) {
    return absl::InvalidArgumentError(
        "a bedrock endpoint needs AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
        "the gateway's environment) or a Bedrock API key (api_key_env, api_key_file)");
  }
  if (e.kind == "vertex") {
    if (e.region.empty() || e.project.empty() || e.model.empty()) {
      return absl::InvalidArgumentError(
          "a vertex endpoint needs project, region and model (e.g. gemini-2.0-flash)");
    }
    if (auto sa = ParseServiceAccount(e.service_account_json); !sa.ok()) return sa.status();
  }
  if (EndpointUrl(e).empty()) return absl::InvalidArgumentError("base_url is required");
  if (auto url = ParseUrl(EndpointUrl(e)); !url.ok()) {
    return absl::InvalidArgumentError("base_url: " + std::string(url.status().message()));
  }
  if (e.kind == "azure_openai" && (e.deployment.empty() || e.api_version.empty())) {
    return absl::InvalidArgumentError(
        "an azure_openai endpoint needs deployment and api_version (e.g. 2024-10-21)");
  }
  if (e.timeout_ms < 1 || e.timeout_ms > 3'600'000) {
    return absl::InvalidArgumentError("timeout must be from 1 ms to 1 hour");
  }
  if (e.cooldown_ms < 0 || e.cooldown_ms > 3'600'000) {
    return absl::InvalidArgumentError("cooldown must be from 0 to 1 hour");
  }
  return absl::OkStatus();
}

bool FallbackEligible(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return method == "POST" && (path == "/v1/chat/completions" || path == "/v1/completions");
}

std::string HostHeader(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + url.host + "]" : url.host;
  if (url.port == (url.tls ? 443 : 80)) return host;
  return host + ":" + std::to_string(url.port);
}

std::string EndpointUrl(const ManagedEndpoint& e) {
  if (!e.base_url.empty()) return e.base_url;
  if (e.kind == "bedrock") return "https://bedrock-runtime." + e.region + ".amazonaws.com";
  if (e.kind == "vertex") return "https://" + e.region + "-aiplatform.googleapis.com";
  return e.base_url;
}

absl::StatusOr<UpstreamRequest> BuildUpstreamRequest(const ManagedEndpoint& e, const Url& url,
                                                     std::string_view client_target,
                                                     std::string_view body,
                                                     std::chrono::system_clock::time_point now,
                                                     std::string_view access_token) {
  const std::string_view path = client_target.substr(0, client_target.find('?'));
  const bool chat = path == "/v1/chat/completions";
  if (!chat && path != "/v1/completions") {
    return absl::InvalidArgumentError(fmt::format("{} is not a completion request", path));
  }
  const std::string_view operation = chat ? "/chat/completions" : "/completions";
  UpstreamRequest out;
  if (e.kind == "vertex") {
    auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return absl::InvalidArgumentError("the request body is not a JSON object");
    }
    out.translate = true;
    out.provider = "vertex";
    out.chat = chat;
    out.model = e.model;
    out.stream = parsed.value("stream", false);
    if (parsed.contains("stream_options") && parsed["stream_options"].is_object()) {
      out.include_usage = parsed["stream_options"].value("include_usage", false);
    }
    auto gemini = OpenAiToGemini(body);
    if (!gemini.ok()) return gemini.status();
    out.body = std::move(*gemini);
    out.target = fmt::format("{}/v1/projects/{}/locations/{}/publishers/google/models/{}:{}",
                             url.path, e.project, e.region, e.model,
                             out.stream ? "streamGenerateContent?alt=sse" : "generateContent");
    out.headers.emplace_back("Authorization", "Bearer " + std::string(access_token));
    return out;
  }
  if (e.kind == "bedrock") {
    auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return absl::InvalidArgumentError("the request body is not a JSON object");
    }
    out.translate = true;
    out.provider = "bedrock";
    out.chat = chat;
    out.model = e.model;
    out.stream = parsed.value("stream", false);
    if (parsed.contains("stream_options") && parsed["stream_options"].is_object()) {
      out.include_usage = parsed["stream_options"].value("include_usage", false);
    }
    auto converse = OpenAiToConverse(body);
    if (!converse.ok()) return converse.status();
    out.body = std::move(*converse);
    out.target = url.path + "/model/" + AwsUriEncode(e.model, false) +
                 (out.stream ? "/converse-stream" : "/converse");
    if (!e.api_key.empty()) {
      out.headers.emplace_back("Authorization", "Bearer " + e.api_key);
      return out;
    }
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[17];
    std::strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    SigV4Request sign;
    sign.method = "POST";
    sign.path = out.target;
    sign.headers = {{"host", HostHeader(url)}, {"x-amz-date", date}};
    if (!e.aws_session_token.empty()) {
      sign.headers.emplace_back("x-amz-security-token", e.aws_session_token);
    }
    sign.payload = out.body;
    const SigV4 signature =
        SignV4(sign, {e.aws_access_key_id, e.aws_secret_access_key, e.aws_session_token}, e.region,
               "bedrock", date);
    out.headers.emplace_back("X-Amz-Date", date);
    if (!e.aws_session_token.empty()) {
      out.headers.emplace_back("X-Amz-Security-Token", e.aws_session_token);
    }
    out.headers.emplace_back("Authorization", signature.authorization);
    return out;
  }
  if (e.kind == "openai") {
    out.target = url.path + std::string(operation);
    if (!e.api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + e.api_key);
  } else if (e.kind == "azure_openai") {
    out.target = fmt::format("{}/openai/deployments/{}{}?api-version={}", url.path, e.deployment,
                             operation, e.api_version);
    out.headers.emplace_back("api-key", e.api_key);
  } else {
    return absl::InvalidArgumentError(fmt::format("unknown endpoint kind '{}'", e.kind));
  }
  if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
  if (e.model.empty()) {
    out.body = std::string(body);
    return out;
  }
  auto j = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the request body is not a JSON object");
  }
  j["model"] = e.model;
  out.body = j.dump();
  return out;
}

absl::StatusOr<ChatRequest> ReadChatRequest(std::string_view body, std::string_view provider) {
  using J = nlohmann::json;
  const J j = J::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the body is not a JSON object (or not UTF-8)");
  }
  ChatRequest out;
  const auto add = [&](const std::string& role, std::string text) {
    if (out.turns.empty() || out.turns.back().first != role) out.turns.push_back({role, {}});
    out.turns.back().second.push_back(std::move(text));
  };
  if (j.contains("messages")) {
    if (!j["messages"].is_array()) {
      return absl::InvalidArgumentError("'messages' must be a list");
    }
    for (const auto& m : j["messages"]) {
      if (!m.is_object()) return absl::InvalidArgumentError("'messages' must hold objects");
      const std::string role = m.value("role", "user");
      std::string text = m.contains("content") ? openai::TextOf(m["content"]) : "";
      if (role == "system" || role == "developer") {
        out.system.push_back(std::move(text));
      } else if (role == "user" || role == "assistant") {
        add(role, std::move(text));
      } else {
        return absl::InvalidArgumentError(
            fmt::format("'messages[].role' '{}' has no {} equivalent (system, user, assistant)",
                        role, provider));
      }
    }
  } else if (j.contains("prompt") && j["prompt"].is_string()) {
    add("user", j["prompt"].get<std::string>());
  } else {
    return absl::InvalidArgumentError("'messages' (or a text 'prompt') is required");
  }
  if (out.turns.empty()) return absl::InvalidArgumentError("'messages' has no user message");
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (j.contains(key) && j[key].is_number_integer()) {
      out.max_tokens = j[key].get<int64_t>();
      break;
    }
  }
  if (j.contains("temperature") && j["temperature"].is_number()) {
    out.temperature = j["temperature"].get<double>();
  }
  if (j.contains("top_p") && j["top_p"].is_number()) out.top_p = j["top_p"].get<double>();
  if (j.contains("stop") && j["stop"].is_string()) out.stop.push_back(j["stop"].get<std::string>());
  if (j.contains("stop") && j["stop"].is_array()) {
    for (const auto& s : j["stop"]) {
      if (s.is_string()) out.stop.push_back(s.get<std::string>());
    }
  }
  return out;
}

std::optional<int64_t> RetryAfterMs(std::string_view value,
                                    std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  constexpr int64_t kMaxMs = 3'600'000;
  int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::min(seconds, kMaxMs / 1000) * 1000;
  }
  // An HTTP-date: "Wed, 21 Oct 2015 07:28:00 GMT" (IMF-fixdate).
  std::tm tm{};
  const std::string text(value);
  const char* parsed = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (parsed == nullptr || *parsed != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - now).count();
  return std::clamp<int64_t>(ms, 0, kMaxMs);
}

}  // namespace awan::gateway
