// The subcommands of `awan`, each a plain function of its parsed arguments. Only cli.cc includes
// CLI11 (a heavy header); these files do not. Output goes to stdout, errors and progress to stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/llm/engine.h"

namespace awan::cli {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed =
    1;  // the command ran and the answer is "no" (invalid, infeasible)
inline constexpr int kExitBadInput = 2;  // a file or option could not be used

struct CatalogArgs {
  std::vector<std::string> paths;  // --catalog; empty = the built-in catalog
};

// The catalog a command uses: --catalog paths, or the built-in one. Prints a one-line summary of
// skipped rows to stderr.
absl::StatusOr<catalog::Catalog> LoadCatalog(const CatalogArgs& args);
// What the fleet (config file, or the embedded default) sells; its config errors go to stderr.
absl::StatusOr<catalog::Catalog> LoadFleetCatalog(const std::string& config_path);

struct CheckArgs {
  std::string task;
  bool json = false;
};
int RunCheck(const CheckArgs& args);

struct CatalogLsArgs {
  CatalogArgs catalog;
  std::string accelerator, provider, region;
  bool spot = false;
  bool json = false;
  size_t limit = 0;
};
int RunCatalogLs(const CatalogLsArgs& args);
int RunCatalogProviders(const CatalogArgs& args, bool json);
int RunCatalogAccelerators(bool json);

struct OptimizeArgs {
  CatalogArgs catalog;
  std::string config;  // fleet config; used when no --catalog is given
  std::string task;
  std::string objective = "cost";
  std::vector<std::string> providers;
  std::vector<std::string> block;
  std::optional<double> flops;
  double mfu = 0.4;
  size_t top = 10;
  bool json = false;
};
int RunOptimize(const OptimizeArgs& args);

struct CheckConfigArgs {
  std::string config;  // "" = $AWAN_HOME/config.yaml, else the embedded default
  bool print_default = false;
  bool json = false;
};
int RunCheckConfig(const CheckConfigArgs& args);

struct LaunchArgs {
  std::string task;
  bool detach = false;
  bool retry_until_up = false;
  // --secret NAME[=VALUE]: a secret given at launch (VALUE from the environment when left out).
  std::vector<std::string> secrets;
};
int RunLaunch(const LaunchArgs& args);

struct StatusArgs {
  std::string job;  // "" = all
  bool json = false;
  size_t limit = 100;
};
int RunStatus(const StatusArgs& args);
int RunLogs(const std::string& job, bool follow);
int RunCancel(const std::string& job);
int RunEvents(const std::string& job, bool json);

struct ServerArgs {
  std::string config;
  std::string host = "127.0.0.1";
  int port = 0;
  std::vector<std::string> catalog;
  bool json = false;
};
int RunServerStart(const ServerArgs& args);
int RunServerStop();
int RunServerStatus(bool json);
int RunServerForeground(const ServerArgs& args);

// `awan serve ...` (services) and `awan gateway` (docs/services.md).
struct ServeUpArgs {
  std::string file, name;
  bool detach = false;
  int wait_s = 600;  // for a replica to be ready
};
int RunServeUp(const ServeUpArgs& args);

// The emulated LLM replica's timing model as options (llm/engine.h), in milliseconds.
struct TimingArgs {
  double prefill_ms_per_token = 0.12, decode_ms_per_step = 12, decode_ms_per_request = 0.2;
  int max_batch = 64;
  int64_t cache_tokens = 262144;
  int max_batched_tokens = 0;
};
llm::TimingModel TimingModelOf(const TimingArgs& args, int block_size);

// `awan serve replay`: a recorded LLM trace on emulated replicas, per routing policy
// (replay_cmd.cc).
struct ServeReplayArgs {
  std::string trace, format;
  double speed = 1;
  int replicas = 8;
  std::string policies = "round_robin,least_load,least_tokens,prefix_affinity,llm_score";
  size_t limit = 0;
  bool json = false;
  TimingArgs timing;
  double slo_ttft_s = 2, slo_tpot_s = 0.1;
  // Against a running endpoint instead of emulated replicas in virtual time.
  std::string url, label = "live", model, api_key_env, replica_metrics;
  // Autoscalers compared instead of fixed replicas (llm/autoscale_replay.h).
  std::string autoscalers;
  bool policies_given = false;  // else autoscalers route with least_load
  int min_replicas = 1, max_replicas = 16;
  double upscale_delay_s = 30, downscale_delay_s = 120, replica_start_s = 60, load_window_s = 10;
};
int RunServeReplay(const ServeReplayArgs& args);

// `awan llm-replica`: an emulated LLM replica, OpenAI-compatible, in the foreground
// (llm_replica_cmd.cc).
struct LlmReplicaArgs {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string model = "awan-emulated";
  std::string api_key_env;  // the key's environment variable, when one is required
  int block_size = 16;
  TimingArgs timing;
};
int RunLlmReplica(const LlmReplicaArgs& args);
int RunServeStatus(const std::string& name, bool json);
struct ServeUpdateArgs {
  std::string name, file;
  std::string mode = "rolling";
};
int RunServeUpdate(const ServeUpdateArgs& args);
int RunServeDown(const std::string& name, bool wait);
int RunServeLogs(const std::string& name, int64_t replica, bool follow);
// action: "create" (arg: label), "ls", "revoke" (arg: key id).
int RunServeKeys(const std::string& action, const std::string& name, const std::string& arg,
                 bool json);
struct GatewayArgs {
  std::string host = "127.0.0.1";  // where routes listen
  std::string admin_host = "127.0.0.1";
  int admin_port = 0;      // /metrics, /health
  int poll_ms = 500;       // how often the server is asked for the routes
  std::string state_file;  // written with {pid, admin_url} while it runs
  // Fixed routes instead of the server's: "NAME=PORT=HOST:PORT[,HOST:PORT...]".
  std::vector<std::string> routes;
  std::string policy = "least_load";      // of the fixed routes
  std::string readiness_path = "/";       // of the fixed routes
  std::string fallbacks_file;             // managed endpoints of the fixed routes
  bool allow_unauthenticated = false;     // serve services without keys beyond loopback
  std::string tls_certfile, tls_keyfile;  // HTTPS for the fixed routes
};
int RunGateway(const GatewayArgs& args);

// `awan sim ...`: emulation controls of the running server's sim providers.
int RunSimOutage(const std::string& where, const std::string& duration);
int RunSimRestore(const std::string& where);
// `node` a host, or "" with `job` > 0: the node of rank 0 of that job.
int RunSimPreempt(const std::string& node, int64_t job);
int RunSimBooks(const std::string& provider, bool json);

// `awan storage ls|delete` (storage_cmd.cc).
int RunStorageLs(bool json);
int RunStorageDelete(const std::string& name, const std::string& store);

// `awan fleet check FLEET.yaml [--json]`: a scheduler fleet file, validated and summarised.
int RunFleetCheck(const std::string& path, bool json);

// `awan simulate ...`: the discrete-event fleet simulator (docs/simulator.md).
struct SimulateArgs {
  std::string fleet;             // --fleet FLEET.yaml
  std::string fleet_from_nodes;  // --fleet-from-nodes openb_node_list_gpu_node.csv
  std::string trace, format;
  int64_t synthetic = 0;
  std::string profile = "helios";
  double arrivals_per_hour = 0;
  double load = 0.9;
  std::string size_mix;
  std::optional<double> duration_median_s, duration_mean_s;
  std::string policy = "fifo";
  std::string scenario;
  uint64_t seed = 1;
  size_t backfill_window = 500;
  int64_t backfill_interval_s = 0;
  int64_t sample_s = 0;
  CatalogArgs catalog;  // prices of on-demand and spot capacity
  std::string out;
  bool json = false;
  bool quiet = false;
};
int RunSimulate(const SimulateArgs& args);

}  // namespace awan::cli
