// What an OpenAI-style completion request asks of a replica (issue 12), read the same way by the
// emulated replica (llm/replica_server.h) and by the gateway's LLM-aware policies, so both see the
// same tokens and prefix blocks: the prompt's tokens (the stand-in tokenizer of llm/engine.h) and
// their vLLM-style block hashes, the output asked for, and how to answer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::llm {

inline constexpr int kDefaultMaxTokens = 256;  // output when the request names none
inline constexpr int kMaxOutputTokens = 1 << 20;
inline constexpr int kMooncakeBlockTokens = 512;  // the tokens behind one of a trace's hash_ids

struct CompletionRequest {
  bool chat = false;  // "messages" (a /v1/chat/completions body) rather than "prompt"
  std::string model;  // "" when absent
  int64_t prompt_tokens = 0;
  std::vector<uint64_t> blocks;  // the prompt's full blocks of `block_size` tokens
  int64_t max_tokens = kDefaultMaxTokens;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Reads a /v1/chat/completions body ("messages": role and content — text, or parts with "text" —
// each message as "ROLE: CONTENT\n") or a /v1/completions one ("prompt": text, texts, or token
// ids); the output is "max_completion_tokens", else "max_tokens", else 256. Or, awan's extension
// with the Mooncake trace's field names: "input_length" tokens whose 512-token blocks hash to
// "hash_ids" (with either "messages" or "prompt" absent). Errors say which field is wrong and why
// (not JSON or not UTF-8, a missing prompt, a number out of range).
absl::StatusOr<CompletionRequest> ParseCompletionRequest(std::string_view body, int block_size);

}  // namespace awan::llm
