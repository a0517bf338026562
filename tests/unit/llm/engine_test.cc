// The emulated LLM replica's cache and timing model against cases computed by hand (issue 12).
#include "awan/llm/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace awan::llm {
namespace {

// prefill 1 ms a token, a decode step 10 ms + 1 ms a running request, 2 at once, 4-token blocks.
TimingModel Small(int64_t cache_blocks = 16) {
  TimingModel m;
  m.prefill_s_per_token = 0.001;
  m.decode_s_per_step = 0.010;
  m.decode_s_per_request = 0.001;
  m.max_batch = 2;
  m.block_size = 4;
  m.cache_blocks = cache_blocks;
  return m;
}

Request Req(uint64_t id, double at, int prompt, int output, std::vector<uint64_t> blocks) {
  Request r;
  r.id = id;
  r.arrival_s = at;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  r.blocks = std::move(blocks);
  return r;
}

// Runs until nothing is left to do; the clock stays at the last step's end.
std::vector<Completion> RunAll(Engine& e) {
  std::vector<Completion> done;
  while (std::isfinite(e.NextEventTime())) e.RunUntil(e.NextEventTime(), done);
  return done;
}

TEST(EngineTest, OneRequestPrefillsThenDecodesATokenAStep) {
  Engine e(Small());
  ASSERT_TRUE(e.Submit(Req(1, 0, 8, 3, {11, 12})));
  EXPECT_EQ(e.running(), 1);
  EXPECT_DOUBLE_EQ(e.NextEventTime(), 0.008);  // 8 prompt tokens × 1 ms
  const auto done = RunAll(e);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_DOUBLE_EQ(done[0].first_token_s, 0.008);
  // Two decode steps of 10 ms + 1 ms (one request running): 0.019, then 0.030.
  EXPECT_NEAR(done[0].finish_s, 0.030, 1e-12);
  EXPECT_EQ(done[0].output_tokens, 3);
  EXPECT_EQ(done[0].cached_tokens, 0);
  EXPECT_EQ(e.NextEventTime(), std::numeric_limits<double>::infinity());
}

// Chunked prefill (max_batched_tokens 100): a 250-token prompt takes three steps, and a short
// prompt arriving meanwhile joins the third step's leftover budget instead of waiting for the
// whole long prefill — against the same two requests without chunking.
TEST(EngineTest, ChunkedPrefillSplitsALongPromptAndLetsAShortOneIn) {
  TimingModel m = Small(128);
  m.max_batched_tokens = 100;
  Engine e(m);
  ASSERT_TRUE(e.Submit(Req(1, 0, 250, 2, {})));
  EXPECT_DOUBLE_EQ(e.NextEventTime(), 0.100);  // 100 of its 250 tokens
  EXPECT_EQ(e.tokens_in_flight(), 252);
  ASSERT_TRUE(e.Submit(Req(2, 0.05, 30, 1, {})));
  std::vector<Completion> done;
  e.RunUntil(0.150, done);
  EXPECT_EQ(e.tokens_in_flight(), 150 + 2 + 31);  // 100 computed; the second waits (no budget)
  EXPECT_EQ(e.waiting(), 1);
  EXPECT_DOUBLE_EQ(e.NextEventTime(), 0.200);  // the next 100
  e.RunUntil(0.200, done);
  EXPECT_EQ(e.waiting(), 0);  // the last 50, and the short prompt's 30
  EXPECT_NEAR(e.NextEventTime(), 0.280, 1e-12);
  done = RunAll(e);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].id, 2u);  // in the order they finished: the short one (one token) first
  EXPECT_NEAR(done[0].first_token_s, 0.280, 1e-12);
  EXPECT_NEAR(done[0].finish_s, 0.280, 1e-12);
  EXPECT_NEAR(done[1].first_token_s, 0.280, 1e-12);
  EXPECT_NEAR(done[1].finish_s, 0.291, 1e-12);  // a decode step: 10 ms + 1 ms

  Engine whole(Small(128));  // without chunking: the long prompt in one 250 ms step
  ASSERT_TRUE(whole.Submit(Req(1, 0, 250, 2, {})));
  ASSERT_TRUE(whole.Submit(Req(2, 0.05, 30, 1, {})));
  done = RunAll(whole);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].id, 1u);
  EXPECT_NEAR(done[0].first_token_s, 0.250, 1e-12);
  // Then the short prefill (30 ms) with the long one's decode step (11 ms): 0.291 for both.
  EXPECT_NEAR(done[1].first_token_s, 0.291, 1e-12);
  EXPECT_NEAR(done[0].finish_s, 0.291, 1e-12);
}

TEST(EngineTest, ACachedPrefixIsNotPrefilledAgain) {
  Engine e(Small());
  ASSERT_TRUE(e.Submit(Req(1, 0, 8, 1, {11, 12})));
  auto done = RunAll(e);
  ASSERT_EQ(done.size(), 1u);
  // The same 2 blocks again at 50 ms: 8 tokens cached, of which vLLM still computes the last one.
  ASSERT_TRUE(e.Submit(Req(2, 0.050, 8, 1, {11, 12})));
  done = RunAll(e);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].cached_tokens, 7);
  EXPECT_NEAR(done[0].first_token_s, 0.051, 1e-12);
  EXPECT_EQ(e.prefix_queries(), 16);
  EXPECT_EQ(e.prefix_hits(), 7);
  // A prompt sharing only the first block: 4 tokens cached, 6 prefilled.
  ASSERT_TRUE(e.Submit(Req(3, 0.100, 10, 1, {11, 99})));
  done = RunAll(e);
  EXPECT_EQ(done[0].cached_tokens, 4);
  EXPECT_NEAR(done[0].first_token_s, 0.106, 1e-12);
}

TEST(EngineTest, TheBatchLimitQueuesTheThirdRequest) {
  Engine e(Small());
  ASSERT_TRUE(e.Submit(Req(1, 0, 4, 2, {1})));
  ASSERT_TRUE(e.Submit(Req(2, 0, 4, 2, {2})));  // both wait for the next step: one is under way
  ASSERT_TRUE(e.Submit(Req(3, 0, 4, 2, {3})));
  EXPECT_EQ(e.running(), 1);
  EXPECT_EQ(e.waiting(), 2);
  std::vector<Completion> done;
  std::vector<uint64_t> first;
  e.RunUntil(0.004, done, &first);  // step 1: request 1's prefill (4 ms)
  EXPECT_EQ(first, (std::vector<uint64_t>{1}));
  EXPECT_EQ(e.running(), 2);  // step 2 admitted request 2 (the batch is full)
  EXPECT_EQ(e.waiting(), 1);
  // Step 2: request 2's prefill (4 ms) + a decode step for request 1 (10 + 1 ms) = 15 ms → 0.019;
  // request 1 is done, request 2 has its first token. Step 3: request 3's prefill + request 2's
  // decode (15 ms) → 0.034; step 4: request 3's decode (11 ms) → 0.045.
  done = RunAll(e);
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].id, 1u);
  EXPECT_NEAR(done[0].finish_s, 0.019, 1e-12);
  EXPECT_NEAR(done[1].first_token_s, 0.019, 1e-12);
  EXPECT_NEAR(done[1].finish_s, 0.034, 1e-12);
  EXPECT_NEAR(done[2].first_token_s, 0.034, 1e-12);
  EXPECT_NEAR(done[2].finish_s, 0.045, 1e-12);
}

TEST(EngineTest, CountersWhileRunning) {
  Engine e(Small(10));
  ASSERT_TRUE(e.Submit(Req(1, 0, 8, 5, {1, 2})));
  ASSERT_TRUE(e.Submit(Req(2, 0, 8, 5, {3, 4})));
  ASSERT_TRUE(e.Submit(Req(3, 0, 8, 5, {5, 6})));
  // Request 1 prefilling (8 + 5 tokens to do), 2 and 3 waiting (13 each).
  EXPECT_EQ(e.tokens_in_flight(), 39);
  EXPECT_DOUBLE_EQ(e.kv_usage(), 0.2);  // 2 of 10 blocks pinned
  std::vector<Completion> done;
  e.RunUntil(0.008, done);  // request 1's first token; request 2 admitted
  EXPECT_EQ(e.tokens_in_flight(), 4 + 13 + 13);
  EXPECT_DOUBLE_EQ(e.kv_usage(), 0.4);
  RunAll(e);
  EXPECT_DOUBLE_EQ(e.kv_usage(), 0);  // nothing pinned; the blocks stay cached
  EXPECT_EQ(e.tokens_in_flight(), 0);
}

TEST(EngineTest, ARequestLargerThanTheCacheIsRefused) {
  Engine e(Small(2));
  EXPECT_FALSE(e.Submit(Req(1, 0, 12, 1, {1, 2, 3})));
  EXPECT_TRUE(e.Submit(Req(2, 0, 12, 1, {1, 2})));
}

TEST(PrefixCacheTest, LeastRecentlyUsedUnpinnedBlocksAreEvicted) {
  PrefixCache c(4);
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{1, 2}));
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{3, 4}));
  EXPECT_FALSE(c.Acquire(std::vector<uint64_t>{5}));  // all four pinned
  EXPECT_EQ(c.pinned(), 4);
  c.Release(std::vector<uint64_t>{1, 2});
  c.Release(std::vector<uint64_t>{3, 4});
  EXPECT_EQ(c.pinned(), 0);
  EXPECT_EQ(c.used(), 4);
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{5}));  // evicts block 1, the least recently used
  EXPECT_EQ(c.evictions(), 1);
  EXPECT_EQ(c.Match(std::vector<uint64_t>{1, 2}), 0);  // a prefix: block 2 alone does not count
  EXPECT_EQ(c.Match(std::vector<uint64_t>{3, 4}), 2);
  // Using blocks 3 and 4 again makes block 2 the least recently used.
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{3, 4}));
  c.Release(std::vector<uint64_t>{3, 4});
  c.Release(std::vector<uint64_t>{5});
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{6}));
  EXPECT_EQ(c.Match(std::vector<uint64_t>{3, 4}), 2);
  EXPECT_EQ(c.Match(std::vector<uint64_t>{5}), 1);
  EXPECT_EQ(c.used(), 4);
  // A request's own cached blocks are not evicted to make room for its missing ones.
  c.Release(std::vector<uint64_t>{6});
  ASSERT_TRUE(c.Acquire(std::vector<uint64_t>{3, 4, 7, 8}));
  EXPECT_EQ(c.Match(std::vector<uint64_t>{3, 4, 7, 8}), 4);
}

TEST(TokensTest, BlockHashesChainLikeVllm) {
  const std::vector<uint32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  std::vector<uint32_t> b = a;
  b[9] = 99;  // the partial last block differs: not hashed
  EXPECT_EQ(BlockHashes(a, 4).size(), 2u);
  EXPECT_EQ(BlockHashes(a, 4), BlockHashes(b, 4));
  std::vector<uint32_t> c = a;
  c[0] = 42;  // the first block differs: every later block's hash differs too
  const auto ha = BlockHashes(a, 4), hc = BlockHashes(c, 4);
  EXPECT_NE(ha[0], hc[0]);
  EXPECT_NE(ha[1], hc[1]);
  const auto t = Tokenize("You are a helpful  assistant.\nHello");
  EXPECT_EQ(t.size(), 6u);
  const auto prefix = Tokenize("You are a helpful");
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), t.begin()));
  EXPECT_EQ(BlockHashes(prefix, 4)[0], BlockHashes(t, 4)[0]);
}

TEST(EngineTest, EveryTokenIsReportedAndACancelledRequestFreesItsBlocks) {
  Engine e(Small(4));
  ASSERT_TRUE(e.Submit(Req(1, 0, 8, 3, {11, 12})));
  ASSERT_TRUE(e.Submit(Req(2, 0, 8, 2, {21, 22})));
  std::vector<Completion> done;
  std::vector<uint64_t> tokens;
  // 1 is prefilled alone (8 ms: its first token); the next step prefills 2 (8 ms) and decodes 1
  // (10 ms + 1 ms): at 27 ms, 1's second token and 2's first.
  e.RunUntil(0.027, done, nullptr, &tokens);
  EXPECT_EQ(tokens, (std::vector<uint64_t>{1, 1, 2}));
  EXPECT_DOUBLE_EQ(e.kv_usage(), 1.0);  // 4 of 4 blocks pinned
  // A third request waits (the batch is full); cancelling 1 unpins its blocks at once.
  ASSERT_TRUE(e.Submit(Req(3, 0.027, 4, 1, {31})));
  EXPECT_EQ(e.waiting(), 1);
  EXPECT_TRUE(e.Cancel(1));
  EXPECT_FALSE(e.Cancel(1));
  EXPECT_DOUBLE_EQ(e.kv_usage(), 0.5);
  tokens.clear();
  // The decode step under way (10 ms + 2 ms, from 27 ms) ends at 39 ms with 2's last token; then
  // 3 is admitted and prefilled (4 ms): its only token at 43 ms.
  e.RunUntil(1, done, nullptr, &tokens);
  EXPECT_EQ(tokens, (std::vector<uint64_t>{2, 3}));
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].id, 2u);
  EXPECT_NEAR(done[0].finish_s, 0.039, 1e-12);
  EXPECT_EQ(done[1].id, 3u);
  EXPECT_NEAR(done[1].finish_s, 0.043, 1e-12);
  // A queued request can be cancelled too.
  ASSERT_TRUE(e.Submit(Req(4, 1, 4, 1, {41})));
  ASSERT_TRUE(e.Submit(Req(5, 1, 4, 1, {51})));
  ASSERT_TRUE(e.Submit(Req(6, 1, 4, 1, {61})));
  EXPECT_EQ(e.waiting(), 2);  // 4 runs alone until its step ends
  EXPECT_TRUE(e.Cancel(6));
  EXPECT_EQ(e.waiting(), 1);
}

TEST(EngineTest, TraceHashIdsExpandIntoSmallerBlocks) {
  const std::vector<uint64_t> a = ExpandTraceBlocks(std::vector<uint64_t>{7, 8}, 512, 16, 1024);
  ASSERT_EQ(a.size(), 64u);  // 2 ids × 32 blocks of 16 tokens
  // A shared first id gives the same first 32 blocks; a prompt of 600 tokens has 37 full blocks.
  const std::vector<uint64_t> b = ExpandTraceBlocks(std::vector<uint64_t>{7, 9}, 512, 16, 600);
  ASSERT_EQ(b.size(), 37u);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 32, b.begin()));
  EXPECT_NE(a[32], b[32]);
  EXPECT_TRUE(ExpandTraceBlocks(std::vector<uint64_t>{7}, 500, 16, 500).empty());
}

}  // namespace
}  // namespace awan::llm
