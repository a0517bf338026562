// `awan llm-replica`: an emulated LLM replica in the foreground (llm/replica_server.h), until
// SIGINT or SIGTERM. What an emulated service's replicas run, and a stand-in for a vLLM server.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "awan/llm/replica_server.h"
#include "commands.h"

namespace awan::cli {

int RunLlmReplica(const LlmReplicaArgs& args) {
  llm::ReplicaServerOptions o;
  o.host = args.host;
  o.port = args.port;
  o.model = args.model;
  if (512 % args.block_size != 0) {  // a trace's hash_ids stand for 512-token blocks
    std::cerr << fmt::format(
        "awan: --block-size {} does not divide 512, the block of the Mooncake trace's hash_ids "
        "that requests may carry; give 1, 2, 4, ... 512 (vLLM's default: 16)\n",
        args.block_size);
    return kExitBadInput;
  }
  o.timing = TimingModelOf(args.timing, args.block_size);
  if (!args.api_key_env.empty()) {
    const char* key = std::getenv(args.api_key_env.c_str());
    if (key == nullptr || *key == '\0') {
      std::cerr << fmt::format(
          "awan: --api-key-env: ${} is not set (set it to the key clients "
          "must send)\n",
          args.api_key_env);
      return kExitBadInput;
    }
    o.api_key = key;
  }
  // Signals are taken by this thread only: blocked before the server's thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  llm::ReplicaServer server(o);
  auto port = server.Start();
  if (!port.ok()) {
    std::cerr << "awan: " << port.status().message() << "\n";
    return kExitFailed;
  }
  std::cerr << fmt::format(
      "awan llm-replica (pid {}): model {} on http://{}:{} — emulated: timing {:g} ms/prompt "
      "token, {:g} ms/decode step + {:g} ms/request, batch {}, KV cache {} tokens in {}-token "
      "blocks\n",
      getpid(), o.model, o.host, *port, args.timing.prefill_ms_per_token,
      args.timing.decode_ms_per_step, args.timing.decode_ms_per_request, o.timing.max_batch,
      o.timing.cache_blocks * o.timing.block_size, o.timing.block_size);
  siginfo_t info;
  while (sigwaitinfo(&signals, &info) <= 0) {
  }
  server.Stop();
  std::cerr << fmt::format("awan llm-replica: stopped after {} requests\n", server.completed());
  return kExitOk;
}

}  // namespace awan::cli
