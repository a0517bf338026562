#include "workers.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace awan::controller {

struct Workers::State {
  std::function<void()> wake;
  std::mutex mu;
  std::condition_variable cv, idle;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> queue;  // guarded by mu
  std::vector<std::function<void()>> finished;                                // guarded by mu
  size_t running = 0;     // guarded by mu: on a worker now
  bool stopping = false;  // guarded by mu
};

Workers::Workers(size_t threads, std::function<void()> wake) : state_(std::make_shared<State>()) {
  state_->wake = std::move(wake);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back(Work, state_);
}

Workers::~Workers() {
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->stopping = true;
    state_->queue.clear();  // not started: dropped
    state_->wake = nullptr;
    state_->idle.wait_for(lock, std::chrono::seconds(2), [this] { return state_->running == 0; });
  }
  state_->cv.notify_all();
  for (std::thread& t : threads_) t.detach();  // each exits as soon as its call returns
}

void Workers::Post(std::function<void()> work, std::function<void()> done) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->queue.emplace_back(std::move(work), std::move(done));
  }
  state_->cv.notify_one();
}

void Workers::Work(std::shared_ptr<State> state) {
  for (;;) {
    std::pair<std::function<void()>, std::function<void()>> item;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->stopping || !state->queue.empty(); });
      if (state->stopping) return;
      item = std::move(state->queue.front());
      state->queue.pop_front();
      ++state->running;
    }
    item.first();
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->stopping) {
      if (item.second) {
        state->finished.push_back(std::move(item.second));
        // Under the lock: the destructor, which clears `wake`, waits for it.
        if (state->wake) state->wake();
      }
    }
    --state->running;
    state->idle.notify_all();
    if (state->stopping) return;
  }
}

void Workers::RunCallbacks() {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ready.swap(state_->finished);
  }
  for (auto& f : ready) f();
}

}  // namespace awan::controller
