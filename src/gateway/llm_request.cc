#include "awan/gateway/llm_request.h"

#include "awan/llm/openai_request.h"

namespace awan::gateway {

LlmRequest ReadLlmRequest(std::string_view body) {
  LlmRequest out;
  auto r = llm::ParseCompletionRequest(body, 16);
  if (!r.ok()) return out;
  out.tokens = r->prompt_tokens + r->max_tokens;
  out.blocks = std::move(r->blocks);
  return out;
}

}  // namespace awan::gateway
