#include "awan/llm/engine.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace awan::llm {
namespace {

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t Fnv(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
  return h;
}

constexpr double kNever = std::numeric_limits<double>::infinity();

}  // namespace

std::vector<uint32_t> Tokenize(std::string_view text) {
  std::vector<uint32_t> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) {
      tokens.push_back(static_cast<uint32_t>(Fnv(kFnvOffset, text.data() + start, i - start)));
    }
  }
  return tokens;
}

std::vector<uint64_t> BlockHashes(std::span<const uint32_t> tokens, int block_size) {
  std::vector<uint64_t> out;
  if (block_size <= 0) return out;
  uint64_t parent = kFnvOffset;
  for (size_t start = 0; start + block_size <= tokens.size(); start += block_size) {
    uint64_t h = Fnv(kFnvOffset, &parent, sizeof(parent));
    h = Fnv(h, tokens.data() + start, sizeof(uint32_t) * static_cast<size_t>(block_size));
    out.push_back(h);
    parent = h;
  }
  return out;
}

std::vector<uint64_t> ExpandTraceBlocks(std::span<const uint64_t> ids, int trace_block,
                                        int block_size, int64_t prompt_tokens) {
  std::vector<uint64_t> out;
  if (block_size <= 0 || trace_block < block_size || trace_block % block_size != 0) return out;
  const int per_id = trace_block / block_size;
  const int64_t full = prompt_tokens / block_size;
  for (uint64_t id : ids) {
    for (int j = 0; j < per_id && static_cast<int64_t>(out.size()) < full; ++j) {
      const uint64_t parts[2] = {id, static_cast<uint64_t>(j)};
      out.push_back(Fnv(kFnvOffset, parts, sizeof(parts)));
    }
  }
  return out;
}

PrefixCache::PrefixCache(int64_t capacity_blocks)
    : capacity_(std::max<int64_t>(0, capacity_blocks)) {}

int64_t PrefixCache::Match(std::span<const uint64_t> blocks) const {
  int64_t n = 0;
  for (uint64_t b : blocks) {
    if (blocks_.count(b) == 0) break;
    ++n;
  }
  return n;
}

bool PrefixCache::Acquire(std::span<const uint64_t> blocks) {
  // What must be inserted, and whether the unpinned blocks can make room for it. Blocks of this
  // request that are cached and unpinned are pinned first, so they are not evicted for it.
  int64_t missing = 0;
  int64_t freeable = static_cast<int64_t>(lru_.size());
  std::unordered_map<uint64_t, int> seen;  // a prompt may repeat a block
  for (uint64_t b : blocks) {
    if (seen[b]++ > 0) continue;
    auto it = blocks_.find(b);
    if (it == blocks_.end()) {
      ++missing;
    } else if (it->second.refs == 0) {
      --freeable;
    }
  }
  const int64_t free_now = capacity_ - static_cast<int64_t>(blocks_.size());
  if (missing > free_now + freeable) return false;
  for (uint64_t b : blocks) {
    auto it = blocks_.find(b);
    if (it != blocks_.end()) {
      if (it->second.refs++ == 0) lru_.erase(it->second.lru);
      continue;
    }
    if (static_cast<int64_t>(blocks_.size()) >= capacity_) {
      blocks_.erase(lru_.front());
      lru_.pop_front();
      ++evictions_;
    }
    blocks_[b].refs = 1;
  }
  return true;
}

void PrefixCache::Release(std::span<const uint64_t> blocks) {
  for (uint64_t b : blocks) {
    auto it = blocks_.find(b);
    if (it == blocks_.end() || it->second.refs == 0) continue;
    if (--it->second.refs == 0) it->second.lru = lru_.insert(lru_.end(), b);
  }
}

Engine::Engine(TimingModel model) : model_(model), cache_(model.cache_blocks), step_end_(kNever) {}

bool Engine::Submit(Request r) {
  std::vector<uint64_t> distinct = r.blocks;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (static_cast<int64_t>(distinct.size()) > cache_.capacity()) return false;
  r.prompt_tokens = std::max(r.prompt_tokens, 1);
  r.output_tokens = std::max(r.output_tokens, 1);
  waiting_.push_back(Live{std::move(r)});
  if (step_end_ == kNever) {  // idle: a step starts when it arrives
    now_ = std::max(now_, waiting_.back().r.arrival_s);
    StartStep();
  }
  return true;
}

void Engine::StartStep() {
  int decoding = 0;
  for (const Live& l : running_) decoding += l.first_token_s >= 0 ? 1 : 0;
  // The step's token budget: decode tokens first, then prefill (chunked when the budget is set).
  int64_t budget = model_.max_batched_tokens > 0
                       ? std::max<int64_t>(0, model_.max_batched_tokens - decoding)
                       : std::numeric_limits<int64_t>::max();
  double prefill_tokens = 0;
  for (Live& l : running_) {  // prompts part-way through their prefill go on first
    if (l.first_token_s >= 0) continue;
    const int64_t take =
        std::min<int64_t>(l.r.prompt_tokens - l.cached_tokens - l.prefilled, budget);
    l.step_prefill = static_cast<int>(take);
    budget -= take;
    prefill_tokens += static_cast<double>(take);
  }
  while (!waiting_.empty() && static_cast<int>(running_.size()) < model_.max_batch && budget > 0) {
    Live& next = waiting_.front();
    const int64_t matched = cache_.Match(next.r.blocks);
    if (!cache_.Acquire(next.r.blocks)) break;  // waits until running requests free blocks
    // vLLM computes at least the prompt's last token, so a fully cached prompt still prefills one.
    next.cached_tokens =
        static_cast<int>(std::min<int64_t>(matched * model_.block_size, next.r.prompt_tokens - 1));
    prefix_queries_ += next.r.prompt_tokens;
    prefix_hits_ += next.cached_tokens;
    const int64_t take = std::min<int64_t>(next.r.prompt_tokens - next.cached_tokens, budget);
    next.step_prefill = static_cast<int>(take);
    budget -= take;
    prefill_tokens += static_cast<double>(take);
    running_.push_back(std::move(next));
    waiting_.pop_front();
  }
  double step = prefill_tokens * model_.prefill_s_per_token;
  if (decoding > 0) step += model_.decode_s_per_step + model_.decode_s_per_request * decoding;
  step_end_ = running_.empty() ? kNever : now_ + step;
}

void Engine::RunUntil(double until, std::vector<Completion>& done, std::vector<uint64_t>* first,
                      std::vector<uint64_t>* tokens) {
  while (step_end_ <= until) {
    now_ = step_end_;
    for (auto it = running_.begin(); it != running_.end();) {
      Live& l = *it;
      if (l.first_token_s < 0) {  // prefilling: the first token once the whole prompt is computed
        l.prefilled += l.step_prefill;
        l.step_prefill = 0;
        if (l.prefilled < l.r.prompt_tokens - l.cached_tokens) {
          ++it;
          continue;
        }
        l.first_token_s = now_;
        l.generated = 1;
        if (first != nullptr) first->push_back(l.r.id);
      } else {
        ++l.generated;
      }
      if (tokens != nullptr) tokens->push_back(l.r.id);
      if (l.generated >= l.r.output_tokens) {
        done.push_back({l.r.id, l.r.arrival_s, l.first_token_s, now_, l.r.prompt_tokens,
                        l.cached_tokens, l.generated});
        cache_.Release(l.r.blocks);
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    step_end_ = kNever;
    StartStep();
  }
  if (step_end_ == kNever) now_ = std::max(now_, until);
}

bool Engine::Cancel(uint64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->r.id == id) {
      waiting_.erase(it);
      return true;
    }
  }
  for (auto it = running_.begin(); it != running_.end(); ++it) {
    if (it->r.id == id) {
      cache_.Release(it->r.blocks);
      running_.erase(it);
      if (running_.empty() && waiting_.empty()) step_end_ = kNever;
      return true;
    }
  }
  return false;
}

double Engine::NextEventTime() const { return step_end_; }

double Engine::kv_usage() const {
  if (cache_.capacity() == 0) return 0;
  return static_cast<double>(cache_.pinned()) / static_cast<double>(cache_.capacity());
}

int64_t Engine::tokens_in_flight() const {
  int64_t n = 0;
  for (const Live& l : waiting_) n += l.r.prompt_tokens + l.r.output_tokens;
  for (const Live& l : running_) {
    n += l.r.output_tokens - l.generated;
    if (l.first_token_s < 0) n += l.r.prompt_tokens - l.cached_tokens - l.prefilled;
  }
  return n;
}

}  // namespace awan::llm
