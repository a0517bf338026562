#include "awan/gateway/llm_request.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "awan/llm/engine.h"

namespace awan::gateway {

LlmRequest ReadLlmRequest(std::string_view body) {
  LlmRequest out;
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return out;
  std::string prompt;
  const auto text_of = [](const nlohmann::json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (content.is_array()) {
      for (const auto& part : content) {
        if (part.is_object() && part.contains("text") && part["text"].is_string()) {
          text += part["text"].get<std::string>() + "\n";
        }
      }
    }
    return text;
  };
  if (j.contains("messages") && j["messages"].is_array()) {
    for (const auto& m : j["messages"]) {
      if (!m.is_object()) continue;
      prompt += m.value("role", "user") + ": ";
      if (m.contains("content")) prompt += text_of(m["content"]);
      prompt += "\n";
    }
  } else if (j.contains("prompt")) {
    const auto& p = j["prompt"];
    if (p.is_string()) {
      prompt = p.get<std::string>();
    } else if (p.is_array()) {
      for (const auto& part : p) {
        if (part.is_string()) prompt += part.get<std::string>() + "\n";
      }
    }
  } else {
    return out;
  }
  int64_t max_output = 256;
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (j.contains(key) && j[key].is_number_integer()) {
      max_output = std::clamp<int64_t>(j[key].get<int64_t>(), 0, 1 << 24);
      break;
    }
  }
  const std::vector<uint32_t> tokens = llm::Tokenize(prompt);
  out.blocks = llm::BlockHashes(tokens, 16);
  out.tokens = static_cast<int64_t>(tokens.size()) + max_output;
  return out;
}

}  // namespace awan::gateway
