#include "awan/llm/openai_request.h"

#include <nlohmann/json.hpp>

#include "awan/llm/engine.h"

namespace awan::llm {
namespace {

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(std::string("'") + std::string(field) + "' " +
                                    std::string(why));
}

// An integer in [low, high] under `key`, or `fallback` when absent.
absl::StatusOr<int64_t> Integer(const nlohmann::json& j, const char* key, int64_t low, int64_t high,
                                int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const auto& v = j[key];
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(high)) ||
      v.get<int64_t>() < low || v.get<int64_t>() > high) {
    return Bad(key,
               "must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
  }
  return v.get<int64_t>();
}

absl::StatusOr<std::string> TextOf(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return std::string();
  if (!content.is_array()) return Bad("content", "must be text or a list of parts");
  std::string text;
  for (const auto& part : content) {
    if (part.is_object() && part.contains("text") && part["text"].is_string()) {
      text += part["text"].get<std::string>() + "\n";
    }
  }
  return text;
}

}  // namespace

absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body, int block_size) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("the body is not JSON (or not UTF-8)");
  }
  if (!j.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  CompletionRequest out;
  if (j.contains("model")) {
    if (!j["model"].is_string()) return Bad("model", "must be text");
    out.model = j["model"].get<std::string>();
  }
  out.chat = j.contains("messages");
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return Bad("stream", "must be true or false");
    out.stream = j["stream"].get<bool>();
  }
  if (j.contains("stream_options") && j["stream_options"].is_object()) {
    const auto& so = j["stream_options"];
    if (so.contains("include_usage")) {
      if (!so["include_usage"].is_boolean()) {
        return Bad("stream_options.include_usage", "must be true or false");
      }
      out.include_usage = so["include_usage"].get<bool>();
    }
  }
  auto max_tokens = Integer(j, "max_tokens", 1, kMaxOutputTokens, kDefaultMaxTokens);
  if (!max_tokens.ok()) return max_tokens.status();
  auto max_completion = Integer(j, "max_completion_tokens", 1, kMaxOutputTokens, *max_tokens);
  if (!max_completion.ok()) return max_completion.status();
  out.max_tokens = *max_completion;

  if (j.contains("hash_ids")) {
    if (!j["hash_ids"].is_array()) return Bad("hash_ids", "must be a list of integers");
    std::vector<uint64_t> ids;
    for (const auto& h : j["hash_ids"]) {
      if (!h.is_number_integer() || (!h.is_number_unsigned() && h.get<int64_t>() < 0)) {
        return Bad("hash_ids", "must hold non-negative integers");
      }
      ids.push_back(h.get<uint64_t>());
    }
    if (!j.contains("input_length")) return Bad("input_length", "is required with 'hash_ids'");
    auto length = Integer(j, "input_length", 1, 10'000'000, 0);
    if (!length.ok()) return length.status();
    out.prompt_tokens = *length;
    out.blocks = ExpandTraceBlocks(ids, kMooncakeBlockTokens, block_size, *length);
    return out;
  }

  std::vector<uint32_t> tokens;
  if (out.chat) {
    if (!j["messages"].is_array() || j["messages"].empty()) {
      return Bad("messages", "must be a non-empty list of {role, content}");
    }
    std::string prompt;
    for (const auto& m : j["messages"]) {
      if (!m.is_object()) return Bad("messages", "must hold objects with 'role' and 'content'");
      if (m.contains("role") && !m["role"].is_string())
        return Bad("messages[].role", "must be text");
      prompt += m.value("role", "user") + ": ";
      if (m.contains("content")) {
        auto text = TextOf(m["content"]);
        if (!text.ok()) return Bad("messages[].content", "must be text or a list of parts");
        prompt += *text;
      }
      prompt += "\n";
    }
    tokens = Tokenize(prompt);
  } else if (j.contains("prompt")) {
    const auto& p = j["prompt"];
    if (p.is_string()) {
      tokens = Tokenize(p.get<std::string>());
    } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
      for (const auto& t : p) {  // token ids
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > UINT32_MAX) {
          return Bad("prompt", "must be text, a list of texts, or a list of token ids");
        }
        tokens.push_back(static_cast<uint32_t>(t.get<int64_t>()));
      }
    } else if (p.is_array()) {
      std::string prompt;
      for (const auto& part : p) {
        if (!part.is_string()) {
          return Bad("prompt", "must be text, a list of texts, or a list of token ids");
        }
        prompt += part.get<std::string>() + "\n";
      }
      tokens = Tokenize(prompt);
    } else {
      return Bad("prompt", "must be text, a list of texts, or a list of token ids");
    }
  } else {
    return absl::InvalidArgumentError(
        "the body has no prompt: 'messages' (chat) or 'prompt' (completions) is required");
  }
  out.prompt_tokens = static_cast<int64_t>(tokens.size());
  out.blocks = BlockHashes(tokens, block_size);
  return out;
}

}  // namespace awan::llm
