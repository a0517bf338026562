// Private to the gateway's managed-endpoint translations (managed.cc, bedrock.cc, vertex.cc): the
// pieces of OpenAI's chat/completions JSON they all read or write.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace awan::gateway::openai {

// A message's content as text: a string, or the text parts of a list joined by newlines.
inline std::string TextOf(const nlohmann::ordered_json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
      }
    }
  }
  return text;
}

// A streamed choice carrying `delta` ({"content": ...} or {"role": ...}): as a chat chunk's
// "delta", or as a completion chunk's "text".
inline nlohmann::ordered_json DeltaChoice(const nlohmann::ordered_json& delta, bool chat) {
  nlohmann::ordered_json choice{{"index", 0}};
  if (chat) {
    choice["delta"] = delta;
  } else {
    choice["text"] = delta.value("content", "");
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = nullptr;
  return choice;
}

}  // namespace awan::gateway::openai
