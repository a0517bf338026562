#include "awan/gateway/bedrock.h"

#include <fmt/format.h>

#include <boost/crc.hpp>
#include <nlohmann/json.hpp>

#include "awan/gateway/managed.h"
#include "openai_json.h"

namespace awan::gateway {
namespace {

using J = nlohmann::ordered_json;

uint32_t Crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

uint32_t GetU32(std::string_view b, size_t at) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(b[at])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3]));
}

}  // namespace

std::string FinishReason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "content_filtered" || stop_reason == "guardrail_intervened") {
    return "content_filter";
  }
  return "stop";  // end_turn, stop_sequence
}

absl::StatusOr<std::string> OpenAiToConverse(std::string_view body) {
  auto chat = ReadChatRequest(body, "Bedrock");
  if (!chat.ok()) return chat.status();
  J messages = J::array(), system = J::array();
  for (const auto& [role, texts] : chat->turns) {
    J content = J::array();
    for (const std::string& t : texts) content.push_back({{"text", t}});
    messages.push_back({{"role", role}, {"content", content}});
  }
  for (const std::string& t : chat->system) system.push_back({{"text", t}});
  J out{{"messages", messages}};
  if (!system.empty()) out["system"] = system;
  J config = J::object();
  if (chat->max_tokens) config["maxTokens"] = *chat->max_tokens;
  if (chat->temperature) config["temperature"] = *chat->temperature;
  if (chat->top_p) config["topP"] = *chat->top_p;
  if (!chat->stop.empty()) config["stopSequences"] = chat->stop;
  if (!config.empty()) out["inferenceConfig"] = config;
  return out.dump();
}

absl::StatusOr<std::string> ConverseToOpenAi(std::string_view body, std::string_view model,
                                             bool chat, std::string_view id, int64_t created) {
  const J j = J::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("output")) {
    return absl::InvalidArgumentError("not a Converse answer (no 'output')");
  }
  std::string text;
  const J& message = j["output"].value("message", J::object());
  if (message.contains("content")) text = openai::TextOf(message["content"]);
  J choice{{"index", 0}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = FinishReason(j.value("stopReason", "end_turn"));
  J out{{"id", id},
        {"object", chat ? "chat.completion" : "text_completion"},
        {"created", created},
        {"model", model},
        {"choices", J::array({choice})}};
  if (j.contains("usage") && j["usage"].is_object()) {
    const J& u = j["usage"];
    out["usage"] = {{"prompt_tokens", u.value("inputTokens", 0)},
                    {"completion_tokens", u.value("outputTokens", 0)},
                    {"total_tokens", u.value("totalTokens", 0)}};
  }
  return out.dump();
}

std::string ProviderErrorToOpenAi(std::string_view provider, std::string_view body, int code,
                                  std::string_view fallback) {
  const J j = J::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string message(fallback);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    message = j["message"].get<std::string>();
  } else if (j.is_object() && j.contains("error") && j["error"].is_object() &&
             j["error"].contains("message") && j["error"]["message"].is_string()) {
    message = j["error"]["message"].get<std::string>();
  }
  return J{{"error",
            {{"message", std::string(provider) + ": " + message},
             {"type", "upstream_error"},
             {"code", code}}}}
      .dump();
}

std::string EncodeEventMessage(const EventMessage& m) {
  std::string headers;
  for (const auto& [name, value] : m.headers) {
    headers += static_cast<char>(name.size());
    headers += name;
    headers += static_cast<char>(7);  // string
    headers += static_cast<char>((value.size() >> 8) & 0xff);
    headers += static_cast<char>(value.size() & 0xff);
    headers += value;
  }
  const uint32_t total = static_cast<uint32_t>(12 + headers.size() + m.payload.size() + 4);
  std::string out;
  PutU32(out, total);
  PutU32(out, static_cast<uint32_t>(headers.size()));
  PutU32(out, Crc32(out));
  out += headers;
  out += m.payload;
  PutU32(out, Crc32(out));
  return out;
}

absl::Status EventStreamDecoder::Feed(std::string_view bytes, std::vector<EventMessage>& out) {
  buffer_.append(bytes);
  size_t at = 0;
  while (buffer_.size() - at >= 12) {
    const std::string_view b(buffer_.data() + at, buffer_.size() - at);
    const uint32_t total = GetU32(b, 0), headers_length = GetU32(b, 4);
    if (total < 16 || headers_length > total - 16 || total > (16u << 20)) {
      return absl::DataLossError("event stream: impossible message length");
    }
    if (Crc32(b.substr(0, 8)) != GetU32(b, 8)) {
      return absl::DataLossError("event stream: prelude CRC mismatch");
    }
    if (b.size() < total) break;  // the rest is still to come
    if (Crc32(b.substr(0, total - 4)) != GetU32(b, total - 4)) {
      return absl::DataLossError("event stream: message CRC mismatch");
    }
    EventMessage m;
    std::string_view h = b.substr(12, headers_length);
    while (!h.empty()) {
      const size_t name_length = static_cast<unsigned char>(h[0]);
      if (h.size() < 1 + name_length + 1) return absl::DataLossError("event stream: bad header");
      const std::string name(h.substr(1, name_length));
      const unsigned char type = static_cast<unsigned char>(h[1 + name_length]);
      h.remove_prefix(2 + name_length);
      // Value sizes by type: 0/1 bool (none), 2 byte, 3 short, 4 int, 5 long, 6 bytes, 7 string,
      // 8 timestamp, 9 uuid.
      size_t size = 0;
      bool variable = false;
      switch (type) {
        case 0:
        case 1:
          size = 0;
          break;
        case 2:
          size = 1;
          break;
        case 3:
          size = 2;
          break;
        case 4:
          size = 4;
          break;
        case 5:
        case 8:
          size = 8;
          break;
        case 9:
          size = 16;
          break;
        case 6:
        case 7:
          variable = true;
          break;
        default:
          return absl::DataLossError("event stream: unknown header type");
      }
      if (variable) {
        if (h.size() < 2) return absl::DataLossError("event stream: bad header");
        size = (static_cast<size_t>(static_cast<unsigned char>(h[0])) << 8) |
               static_cast<unsigned char>(h[1]);
        h.remove_prefix(2);
      }
      if (h.size() < size) return absl::DataLossError("event stream: bad header");
      if (type == 7) m.headers[name] = std::string(h.substr(0, size));
      h.remove_prefix(size);
    }
    m.payload = std::string(b.substr(12 + headers_length, total - 16 - headers_length));
    out.push_back(std::move(m));
    at += total;
  }
  buffer_.erase(0, at);
  return absl::OkStatus();
}

ConverseStreamToSse::ConverseStreamToSse(std::string model, bool chat, std::string id,
                                         int64_t created, bool include_usage)
    : model_(std::move(model)),
      id_(std::move(id)),
      chat_(chat),
      include_usage_(include_usage),
      created_(created) {}

std::string ConverseStreamToSse::Chunk(const std::string& choice_json) const {
  J c{{"id", id_},
      {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
      {"created", created_},
      {"model", model_}};
  c["choices"] = choice_json.empty() ? J::array() : J::array({J::parse(choice_json)});
  return c.dump();
}

std::string ConverseStreamToSse::OnMessage(const EventMessage& m) {
  if (done_) return "";
  const auto type = m.headers.find(":message-type");
  if (type != m.headers.end() && type->second != "event") {
    const auto exception = m.headers.find(":exception-type");
    const J payload = J::parse(m.payload, nullptr, false);
    const std::string message = payload.is_object() ? payload.value("message", "") : m.payload;
    J error{{"error",
             {{"message",
               fmt::format("Bedrock: {}: {}",
                           exception != m.headers.end() ? exception->second : "error", message)},
              {"type", "upstream_error"},
              {"code", 502}}}};
    done_ = true;
    return "data: " + error.dump() + "\n\n";
  }
  const auto event = m.headers.find(":event-type");
  if (event == m.headers.end()) return "";
  const J p = J::parse(m.payload, nullptr, false);
  if (p.is_discarded()) return "";
  const auto delta = [&](const J& d) {
    return "data: " + Chunk(openai::DeltaChoice(d, chat_).dump()) + "\n\n";
  };
  if (event->second == "messageStart") {
    return chat_ ? delta(J{{"role", p.value("role", "assistant")}, {"content", ""}}) : "";
  }
  if (event->second == "contentBlockDelta") {
    const J d = p.value("delta", J::object());
    if (!d.contains("text") || !d["text"].is_string()) return "";
    return delta(J{{"content", d["text"]}});
  }
  if (event->second == "messageStop") {
    J choice{{"index", 0}, {"finish_reason", FinishReason(p.value("stopReason", "end_turn"))}};
    if (chat_) {
      choice["delta"] = J::object();
    } else {
      choice["text"] = "";
      choice["logprobs"] = nullptr;
    }
    return "data: " + Chunk(choice.dump()) + "\n\n";
  }
  if (event->second == "metadata") {
    std::string out;
    if (include_usage_ && p.contains("usage") && p["usage"].is_object()) {
      const J& u = p["usage"];
      J c = J::parse(Chunk(""));
      c["usage"] = {{"prompt_tokens", u.value("inputTokens", 0)},
                    {"completion_tokens", u.value("outputTokens", 0)},
                    {"total_tokens", u.value("totalTokens", 0)}};
      out += "data: " + c.dump() + "\n\n";
    }
    done_ = true;
    return out + "data: [DONE]\n\n";
  }
  return "";  // contentBlockStart, contentBlockStop: nothing to say
}

}  // namespace awan::gateway
