// Amazon Bedrock as a managed endpoint (issue 12): OpenAI chat/completion requests translated to
// Bedrock's Converse API and its answers back — Converse's JSON to a chat.completion, and
// ConverseStream's AWS event stream (binary frames: prelude, headers, payload, CRC-32s) to OpenAI's
// server-sent events. Follows the Amazon Bedrock Runtime API reference (Converse, ConverseStream;
// API version 2023-09-30) and the event stream encoding of the AWS SDKs. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::gateway {

// An OpenAI body (/v1/chat/completions: messages; /v1/completions: prompt) as a Converse body:
// system messages → "system", user/assistant → "messages" (consecutive turns of one role merged,
// as Converse wants them alternating), max_tokens / temperature / top_p / stop →
// "inferenceConfig". Errors name the field.
absl::StatusOr<std::string> OpenAiToConverse(std::string_view body);

// A Converse answer as an OpenAI one (chat.completion or text_completion) for `model`, with id
// `id`: the text of its output message, finish_reason from stopReason, usage from usage.
absl::StatusOr<std::string> ConverseToOpenAi(std::string_view body, std::string_view model,
                                             bool chat, std::string_view id, int64_t created);

// A provider's error answer (Bedrock's {"message": ...}, Google's {"error": {"message": ...}}, or
// `fallback` when it has neither) as OpenAI's error body, the message prefixed with `provider`.
std::string ProviderErrorToOpenAi(std::string_view provider, std::string_view body, int code,
                                  std::string_view fallback);

// One message of an AWS event stream.
struct EventMessage {
  std::map<std::string, std::string> headers;  // string-valued headers (":event-type", ...)
  std::string payload;
};

// The framing: total length (u32, big-endian), headers length (u32), prelude CRC-32, headers
// (name length u8, name, value type u8, value), payload, message CRC-32. Only string headers (type
// 7) are written.
std::string EncodeEventMessage(const EventMessage& m);

// Reads messages from bytes as they arrive. A CRC mismatch or an impossible length is an error
// (the stream is then unusable).
class EventStreamDecoder {
 public:
  absl::Status Feed(std::string_view bytes, std::vector<EventMessage>& out);

 private:
  std::string buffer_;
};

// ConverseStream's events as OpenAI's SSE (chat.completion.chunk or text_completion): messageStart
// → a chunk with the role, contentBlockDelta → a chunk with its text, messageStop → a chunk with
// finish_reason, metadata → the usage chunk (when asked: include_usage) and `data: [DONE]`; an
// exception message → an SSE error event. Returns the text to send for one message.
class ConverseStreamToSse {
 public:
  ConverseStreamToSse(std::string model, bool chat, std::string id, int64_t created,
                      bool include_usage);
  std::string OnMessage(const EventMessage& m);
  bool done() const { return done_; }

 private:
  std::string Chunk(const std::string& choice_json) const;
  std::string model_, id_;
  bool chat_, include_usage_;
  int64_t created_;
  bool done_ = false;
};

// Bedrock's stopReason as OpenAI's finish_reason.
std::string FinishReason(std::string_view stop_reason);

}  // namespace awan::gateway
