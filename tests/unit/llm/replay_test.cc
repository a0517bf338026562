// Trace replay on emulated replicas: traces read with clear errors, and the policies ranking on a
// conversation workload as the cache says they must (prefix affinity finds the prompts it sent).
#include "awan/llm/replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace awan::llm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Write(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / name;
  std::ofstream(p) << text;
  return p.string();
}

TEST(ReplayTest, TracesAreReadAndMistakesNamed) {
  auto moon = ReadTrace(
      Write("t.jsonl",
            R"({"timestamp": 1000, "input_length": 600, "output_length": 5, "hash_ids": [0, 1]}
{"timestamp": 1500, "input_length": 40, "output_length": 2, "hash_ids": [0]}
)"),
      "mooncake");
  ASSERT_TRUE(moon.ok()) << moon.status();
  ASSERT_EQ(moon->size(), 2u);
  EXPECT_DOUBLE_EQ((*moon)[1].arrival_s, 0.5);
  EXPECT_EQ((*moon)[0].blocks, (std::vector<uint64_t>{0, 1}));
  auto azure = ReadTrace(Write("t.csv",
                               "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                               "2023-11-16 18:17:03.9799600,4808,10\n"
                               "2023-11-16 18:17:05.4799600,3180,8\n"),
                         "azure");
  ASSERT_TRUE(azure.ok()) << azure.status();
  EXPECT_NEAR((*azure)[1].arrival_s, 1.5, 1e-6);
  EXPECT_EQ((*azure)[0].prompt_tokens, 4808);
  auto bad =
      ReadTrace(Write("bad.jsonl", "{\"timestamp\": 0, \"input_length\": \"x\"}\n"), "mooncake");
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.jsonl:1: 'input_length' must be a number"));
  auto huge = ReadTrace(
      Write("huge.jsonl", "{\"timestamp\": 0, \"input_length\": 1e12, \"output_length\": 1}\n"),
      "mooncake");
  EXPECT_THAT(huge.status().message(), HasSubstr("huge.jsonl:1: 'input_length' must be a whole"));
  auto negative = ReadTrace(Write("neg.csv", "2023-11-16 18:17:03.9,-5,1\n"), "azure");
  EXPECT_THAT(negative.status().message(), HasSubstr("neg.csv:1: ContextTokens must be"));
  auto bad_csv = ReadTrace(
      Write("bad.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n"), "azure");
  EXPECT_THAT(bad_csv.status().message(), HasSubstr("bad.csv:2: TIMESTAMP 'yesterday'"));
  EXPECT_THAT(ReadTrace("/nonexistent", "azure").status().message(), HasSubstr("cannot read"));
}

// 42 conversations of 6 turns, each turn's prompt the whole conversation so far (a shared system
// block, then the conversation's own blocks): prefix affinity sends each conversation back where
// its blocks are cached; round robin scatters them over 4 replicas, each with a cache too small for
// all.
TEST(ReplayTest, PrefixAffinityFindsTheCachedConversationsRoundRobinScatters) {
  std::vector<TraceRequest> trace;
  double t = 0;
  for (int turn = 0; turn < 6; ++turn) {
    for (uint64_t conv = 0; conv < 42; ++conv) {
      TraceRequest r;
      r.arrival_s = t;
      t += 0.25;
      r.blocks.push_back(7);  // the system prompt
      for (int k = 0; k <= turn; ++k) {
        r.blocks.push_back(1000 + conv * 100 + static_cast<uint64_t>(k));
        r.blocks.push_back(50000 + conv * 100 + static_cast<uint64_t>(k));
      }
      r.prompt_tokens = static_cast<int>(r.blocks.size()) * 512;
      r.output_tokens = 20;
      trace.push_back(std::move(r));
    }
  }
  ReplayOptions o;
  o.replicas = 4;
  o.model.block_size = 512;
  o.model.cache_blocks = 200;  // a replica holds ~15 conversations at their longest
  auto results = Replay(trace, {"round_robin", "prefix_affinity"}, o);
  ASSERT_TRUE(results.ok()) << results.status();
  const PolicyResult& rr = (*results)[0];
  const PolicyResult& pa = (*results)[1];
  EXPECT_EQ(rr.requests, 252);
  EXPECT_EQ(pa.requests, 252);
  EXPECT_GT(pa.prefix_hit_ratio, 1.5 * rr.prefix_hit_ratio)
      << "round robin " << rr.prefix_hit_ratio << ", prefix affinity " << pa.prefix_hit_ratio;
  EXPECT_LT(pa.ttft_p90, rr.ttft_p90);
  EXPECT_LE(pa.max_over_mean_load, 1.5);
  const std::string json = ReplayJson(*results);
  for (const char* field : {"\"policies\"", "\"policy\"", "\"ttft_s\"", "\"p50\"", "\"p90\"",
                            "\"p99\"", "\"prefix_hit_ratio\"", "\"max_over_mean_load\"",
                            "\"output_tokens_per_s\"", "\"requests\""}) {
    EXPECT_THAT(json, HasSubstr(field));
  }
  EXPECT_THAT(Replay(trace, {"no_such_policy"}, o).status().message(),
              HasSubstr("unknown load-balancing policy"));
}

}  // namespace
}  // namespace awan::llm
