// What the gateway reads of an OpenAI-style request for the LLM-aware policies (least_tokens,
// prefix_affinity): the prompt's tokens and prefix-block hashes, with the emulated replica's
// stand-in tokenizer and vLLM's block hashing (llm/engine.h), and the output it may produce.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace awan::gateway {

struct LlmRequest {
  int64_t tokens = 0;  // prompt tokens + max_tokens (0 when the body is not such a request)
  std::vector<uint64_t> blocks;  // the prompt's 16-token prefix blocks
};

// From a /v1/chat/completions or /v1/completions body, read as the emulated replica reads it
// (llm::ParseCompletionRequest: messages, prompt, or a trace's input_length and hash_ids; output
// max_completion_tokens, max_tokens, or 256). A body that is not such a request gives an empty
// result (the policy then routes as least_load does).
LlmRequest ReadLlmRequest(std::string_view body);

}  // namespace awan::gateway
