// How an OpenAI-style body is read into tokens and prefix blocks (issue 12): the same for the
// emulated replica and the gateway's policies.
#include "awan/llm/openai_request.h"

#include <gtest/gtest.h>

#include "awan/llm/engine.h"

namespace awan::llm {
namespace {

TEST(OpenAiRequestTest, ChatMessagesAreOnePromptInOrder) {
  auto r = ParseCompletionRequest(
      R"({"model": "m", "messages": [{"role": "system", "content": "be brief"},
          {"role": "user", "content": [{"type": "text", "text": "hi there"}]}],
          "max_tokens": 9, "stream": true, "stream_options": {"include_usage": true}})",
      4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->chat);
  EXPECT_EQ(r->model, "m");
  // "system: be brief\nuser: hi there\n\n" is 6 words.
  const auto tokens = Tokenize("system: be brief\nuser: hi there\n\n");
  EXPECT_EQ(r->prompt_tokens, 6);
  EXPECT_EQ(r->blocks, BlockHashes(tokens, 4));
  EXPECT_EQ(r->max_tokens, 9);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
}

TEST(OpenAiRequestTest, PromptsAsTextTextsOrTokenIds) {
  auto text = ParseCompletionRequest(R"({"prompt": "a b c d e"})", 4);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->chat);
  EXPECT_EQ(text->prompt_tokens, 5);
  EXPECT_EQ(text->blocks.size(), 1u);
  EXPECT_EQ(text->max_tokens, kDefaultMaxTokens);
  auto ids = ParseCompletionRequest(R"({"prompt": [1, 2, 3, 4, 5, 6, 7, 8],
      "max_completion_tokens": 3, "max_tokens": 99})",
                                    4);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->prompt_tokens, 8);
  EXPECT_EQ(ids->blocks.size(), 2u);
  EXPECT_EQ(ids->max_tokens, 3);  // max_completion_tokens wins, as OpenAI's newer name
}

TEST(OpenAiRequestTest, TraceHashIdsStandForTheirBlocks) {
  auto r = ParseCompletionRequest(R"({"prompt": "", "input_length": 1100, "hash_ids": [5, 6, 7],
      "max_tokens": 20})",
                                  16);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_tokens, 1100);
  EXPECT_EQ(r->blocks, ExpandTraceBlocks(std::vector<uint64_t>{5, 6, 7}, 512, 16, 1100));
  EXPECT_EQ(r->blocks.size(), 68u);  // 1100 / 16 full blocks
}

TEST(OpenAiRequestTest, MistakesNameTheField) {
  const auto error = [](std::string_view body) {
    auto r = ParseCompletionRequest(body, 16);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  EXPECT_EQ(error("{"), "the body is not JSON (or not UTF-8)");
  EXPECT_EQ(error("{\"prompt\": \"caf\xe9\"}"), "the body is not JSON (or not UTF-8)");
  EXPECT_EQ(error("[1]"), "the body must be a JSON object");
  EXPECT_EQ(error(R"({"max_tokens": 3})"),
            "the body has no prompt: 'messages' (chat) or 'prompt' (completions) is required");
  EXPECT_EQ(error(R"({"prompt": "x", "max_tokens": 0})"),
            "'max_tokens' must be an integer from 1 to 1048576");
  EXPECT_EQ(error(R"({"prompt": "x", "max_tokens": 1e30})"),
            "'max_tokens' must be an integer from 1 to 1048576");
  EXPECT_EQ(error(R"({"prompt": "x", "max_tokens": 18446744073709551615})"),
            "'max_tokens' must be an integer from 1 to 1048576");
  EXPECT_EQ(error(R"({"messages": []})"), "'messages' must be a non-empty list of {role, content}");
  EXPECT_EQ(error(R"({"prompt": {"a": 1}})"),
            "'prompt' must be text, a list of texts, or a list of token ids");
  EXPECT_EQ(error(R"({"prompt": "x", "stream": "yes"})"), "'stream' must be true or false");
  EXPECT_EQ(error(R"({"prompt": "x", "hash_ids": [1, -2], "input_length": 5})"),
            "'hash_ids' must hold non-negative integers");
  EXPECT_EQ(error(R"({"prompt": "x", "hash_ids": [1]})"),
            "'input_length' is required with 'hash_ids'");
}

}  // namespace
}  // namespace awan::llm
