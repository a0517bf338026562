// Managed model endpoints as a route's fallbacks (issue 12): a provider's API that takes a route's
// OpenAI-style requests when its own replicas are full (429), failing (5xx, connect errors,
// timeouts) or not ready — before anything was sent to the client. This file is the pure part:
// endpoint settings, the request each kind is sent and the headers that authenticate it, and
// Retry-After; the gateway (gateway.cc) does the I/O and the order (replicas first, then each
// endpoint in turn, skipping those cooling down). See docs/llm.md.
//
// Kinds: `openai` (any OpenAI-compatible base URL: `{base_url}/chat/completions`, `Authorization:
// Bearer KEY`; API reference of 2024-2025, the same on api.openai.com and vLLM/SGLang servers) and
// `azure_openai` (`{base_url}/openai/deployments/{deployment}/chat/completions?api-version=V`,
// `api-key: KEY`; Azure OpenAI data-plane REST reference, api-version 2024-10-21). Their bodies,
// answers and streams are OpenAI's: relayed as they are, the model name replaced by the endpoint's.
// `bedrock` (`{base_url}/model/{model}/converse` or `/converse-stream`, SigV4 for service "bedrock"
// with the gateway's AWS credentials, or `Authorization: Bearer` with a Bedrock API key; Bedrock
// Runtime API reference, 2023-09-30): requests and answers translated (bedrock.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::gateway {

struct ManagedEndpoint {
  std::string name;  // in logs and metrics; defaults to the kind
  std::string kind;  // openai | azure_openai | bedrock | vertex
  std::string
      base_url;       // openai: "https://api.openai.com/v1"; azure: "https://RES.openai.azure.com"
  std::string model;  // the model asked of it (replaces the client's); "" keeps the client's
  std::string deployment, api_version;  // azure_openai
  std::string region;   // bedrock, vertex (the location); base_url defaults to the region's host
  std::string project;  // vertex
  std::string service_account_json;  // vertex: the service-account key file's contents
  std::string aws_access_key_id, aws_secret_access_key, aws_session_token;  // bedrock (SigV4)
  std::string api_key;  // the secret itself (read from the file or variable the config names)
  std::string ca_file;  // a private CA for an https base_url; "" the system's
  int64_t timeout_ms = 30000;   // connect + until the answer's first byte
  int64_t cooldown_ms = 10000;  // skipped this long after a failure without Retry-After
  friend bool operator==(const ManagedEndpoint&, const ManagedEndpoint&) = default;
};

// The kinds a fallback may name.
const std::vector<std::string>& ManagedKinds();

struct Url {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path;  // without a trailing '/'; "" for the root
};
// "http://host[:port][/path]" or "https://..."; errors say what is wrong.
absl::StatusOr<Url> ParseUrl(std::string_view url);

// An endpoint's settings checked: its kind known, what the kind needs present, its URL valid.
absl::Status CheckEndpoint(const ManagedEndpoint& e);

struct UpstreamRequest {
  std::string target;                                        // path and query
  std::vector<std::pair<std::string, std::string>> headers;  // besides Host, Content-*
  std::string body;
  // The answer must be translated to OpenAI's (bedrock), and how.
  bool translate = false, stream = false, chat = true, include_usage = false;
  std::string model;
  std::string provider;  // "bedrock", "vertex": whose answer it is
};

// The Host header for `url` (":port" only when not the scheme's default).
std::string HostHeader(const Url& url);
// The URL an endpoint is reached at: its base_url, or for bedrock without one
// https://bedrock-runtime.REGION.amazonaws.com.
std::string EndpointUrl(const ManagedEndpoint& e);

// Whether a client's request may go to managed endpoints: POST /v1/chat/completions or
// /v1/completions.
bool FallbackEligible(std::string_view method, std::string_view target);

// What endpoint `e` (at `url`) is sent for a client's OpenAI request to `client_target`
// (/v1/chat/completions or /v1/completions) with `body`.
// `now` dates a SigV4 signature; `access_token` is vertex's OAuth token.
absl::StatusOr<UpstreamRequest> BuildUpstreamRequest(
    const ManagedEndpoint& e, const Url& url, std::string_view client_target, std::string_view body,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
    std::string_view access_token = {});

// What a client's OpenAI chat (or text completion) request asks, for the kinds that translate it
// (bedrock, vertex): system texts, the user/assistant turns in order (consecutive messages of one
// role merged into one turn of several texts, as both providers want turns to alternate), and
// the generation settings given. Errors name the field; `provider` names who lacks a role.
struct ChatRequest {
  std::vector<std::string> system;
  std::vector<std::pair<std::string, std::vector<std::string>>> turns;  // "user" | "assistant"
  std::optional<int64_t> max_tokens;
  std::optional<double> temperature, top_p;
  std::vector<std::string> stop;
};
absl::StatusOr<ChatRequest> ReadChatRequest(std::string_view body, std::string_view provider);

// The SSE event that ends a stream whose upstream broke off after it began (never a switch).
inline constexpr std::string_view kUpstreamBrokeOffEvent =
    "data: {\"error\": {\"message\": \"the upstream broke off the answer\", \"type\": "
    "\"upstream_error\", \"code\": 502}}\n\n";

// A Retry-After value (delay-seconds, or an HTTP-date relative to `now`) in milliseconds, at most
// an hour; nullopt when absent or unreadable.
std::optional<int64_t> RetryAfterMs(std::string_view value,
                                    std::chrono::system_clock::time_point now);

}  // namespace awan::gateway
