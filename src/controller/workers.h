// Worker threads for the calls that may take long — a provider that talks over the network
// (ssh, salloc), backoff waits — so the loop never blocks on them: work runs here, and its result
// is handed back to the loop thread, which applies it at its next pass (woken at once).
// Thread-safe: Run and Fire from the loop thread; callbacks run on the loop thread in
// RunCallbacks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace awan::controller {

class Workers {
 public:
  // `wake` is called (from a worker) when a result is ready for the loop.
  Workers(size_t threads, std::function<void()> wake);
  // Waits a little for the work under way; a call that still hangs keeps its thread (detached),
  // and its result is dropped.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `work` on a worker, then `done(result)` on the loop thread.
  template <typename R>
  void Run(std::function<R()> work, std::function<void(R)> done) {
    auto result = std::make_shared<R>();
    Post([work = std::move(work), result] { *result = work(); },
         [done = std::move(done), result] { done(std::move(*result)); });
  }
  // Runs `work` on a worker; nothing comes back.
  void Fire(std::function<void()> work) { Post(std::move(work), nullptr); }
  // Loop thread: runs the callbacks of the work that has finished.
  void RunCallbacks();

 private:
  struct State;
  void Post(std::function<void()> work, std::function<void()> done);
  static void Work(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;  // shared with the threads: outlives a thread left hanging
  std::vector<std::thread> threads_;
};

}  // namespace awan::controller
