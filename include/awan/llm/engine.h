// The emulated LLM replica's model (issue 12): a prefix KV cache of fixed-size token blocks,
// hashed the way vLLM hashes them and evicted least recently used, and a timing model — prefill
// time per uncached prompt token, a decode step per output token, a batch limit and a FIFO queue —
// stepped in virtual time. It is a product feature (planning, demos: `awan serve replay` runs many
// of these in one process) and the test double of a GPU replica (the emulated replica server runs
// one against the wall clock). Pure: no clock, no I/O. See docs/llm.md.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace awan::llm {

// A stand-in tokenizer: each whitespace-separated word is one token, its id a stable hash of the
// word. Enough for prefix reuse to behave as with a real tokenizer on shared text.
std::vector<uint32_t> Tokenize(std::string_view text);

// A trace's prefix hashes of `trace_block` tokens each (Mooncake's hash_ids: 512) as hashes of
// `block_size`-token blocks: each id stands for trace_block / block_size blocks, whose hashes are
// derived from it (a shared id gives shared blocks, as shared text does). `trace_block` must be a
// multiple of `block_size`; trailing ids beyond `prompt_tokens` are ignored.
std::vector<uint64_t> ExpandTraceBlocks(std::span<const uint64_t> ids, int trace_block,
                                        int block_size, int64_t prompt_tokens);

// vLLM's prefix-block hashes: block i's hash chains block i-1's hash and block i's token ids; only
// full blocks are hashed (a partial last block is never shared).
std::vector<uint64_t> BlockHashes(std::span<const uint32_t> tokens, int block_size);

// Cached blocks by hash. Blocks a running request holds are pinned; the others stay cached and
// are evicted least recently used when room is needed.
class PrefixCache {
 public:
  explicit PrefixCache(int64_t capacity_blocks);
  // How many leading blocks of `blocks` are cached (stops at the first miss).
  int64_t Match(std::span<const uint64_t> blocks) const;
  // Pins `blocks` (cached ones, and the missing ones inserted), evicting unpinned blocks for room;
  // false, with nothing pinned, when that cannot make room.
  bool Acquire(std::span<const uint64_t> blocks);
  // Unpins them; they stay cached, most recently used.
  void Release(std::span<const uint64_t> blocks);
  int64_t used() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t pinned() const { return used() - static_cast<int64_t>(lru_.size()); }
  int64_t capacity() const { return capacity_; }
  int64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    int refs = 0;
    std::list<uint64_t>::iterator lru;  // valid while refs == 0
  };
  int64_t capacity_;
  int64_t evictions_ = 0;
  std::unordered_map<uint64_t, Entry> blocks_;
  std::list<uint64_t> lru_;  // unpinned blocks, least recently used first
};

// What a step of the replica costs. Defaults: an 8B-parameter model on one H100-class GPU, roughly
// (docs/llm.md says how they were chosen); every one is an option of the replica and of replay.
struct TimingModel {
  double prefill_s_per_token = 0.00012;  // per uncached prompt token
  double decode_s_per_step = 0.012;      // a decode step (one token for every running request)
  double decode_s_per_request = 0.0002;  // added per running request in that step
  int max_batch = 64;                    // requests running at once
  int block_size = 16;                   // tokens per KV block
  int64_t cache_blocks = 16384;          // KV capacity, in blocks
  // Chunked prefill (vLLM's max_num_batched_tokens): the tokens one step computes — a decode
  // token per decoding request, then prefill chunks, oldest request first. 0: off, each admitted
  // prompt prefilled whole in its first step (while decoding requests wait for that step).
  int max_batched_tokens = 0;
};

struct Request {
  uint64_t id = 0;
  double arrival_s = 0;
  int prompt_tokens = 0;
  int output_tokens = 1;
  std::vector<uint64_t> blocks;  // the prompt's full blocks (BlockHashes, or a trace's hash ids)
};

// A request's timeline, when it finished.
struct Completion {
  uint64_t id = 0;
  double arrival_s = 0, first_token_s = 0, finish_s = 0;
  int prompt_tokens = 0, cached_tokens = 0, output_tokens = 0;
};

// One replica: requests wait in arrival order and run in batches (iteration-level scheduling, as
// vLLM does). A step admits waiting requests while the batch has room and their blocks fit in the
// cache; it takes the prefill of the admitted ones (their uncached tokens) plus, when requests are
// decoding, one decode step. An admitted request's first token comes at the end of its prefill
// step; each later step adds one token to every running request.
class Engine {
 public:
  explicit Engine(TimingModel model);
  const TimingModel& model() const { return model_; }

  // Queues `r` (its arrival is when it was submitted: not before the engine's clock). A request
  // whose blocks could never fit in the cache is refused (false).
  bool Submit(Request r);
  // Runs the steps that end by `until`; the clock then stands at `until` (or at the end of the
  // last step, if a step was under way). Finished requests are appended to `done`; those whose
  // first token came are appended to `first` (ids), in order; every token made is appended to
  // `tokens` as its request's id (a request's first token included).
  void RunUntil(double until, std::vector<Completion>& done, std::vector<uint64_t>* first = nullptr,
                std::vector<uint64_t>* tokens = nullptr);
  // Drops request `id` (its client went away), queued or running: its blocks are unpinned and a
  // step under way goes on for the others. False when no such request is in the engine.
  bool Cancel(uint64_t id);
  // When the step under way ends, or +inf when there is nothing to do.
  double NextEventTime() const;
  double now() const { return now_; }

  int waiting() const { return static_cast<int>(waiting_.size()); }
  int running() const { return static_cast<int>(running_.size()); }
  double kv_usage() const;  // blocks in use (pinned) over capacity, 0..1
  // Prompt tokens asked for and found in the cache (vLLM's prefix_cache_queries/hits, in tokens).
  int64_t prefix_queries() const { return prefix_queries_; }
  int64_t prefix_hits() const { return prefix_hits_; }
  int64_t tokens_in_flight() const;  // prompt + output tokens still to process, queued and running

 private:
  struct Live {
    Request r;
    int cached_tokens = 0;
    int generated = 0;
    double first_token_s = -1;
    int prefilled = 0;     // uncached prompt tokens computed so far
    int step_prefill = 0;  // of them, in the step under way
  };
  void StartStep();  // at now_: admits, and sets step_end_ (or leaves it +inf when idle)

  TimingModel model_;
  PrefixCache cache_;
  double now_ = 0;
  double step_end_;
  std::list<Live> waiting_;
  std::vector<Live> running_;
  int64_t prefix_queries_ = 0, prefix_hits_ = 0;
};

}  // namespace awan::llm
