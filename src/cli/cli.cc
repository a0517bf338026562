// `awan` argument parsing (CLI11) and dispatch to the subcommands in commands.h.
#include "awan/cli/cli.h"

#include <CLI/CLI.hpp>

#include "commands.h"

namespace awan::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

// The emulated LLM replica's timing model (llm/engine.h), shared by replay and llm-replica.
void AddTimingOptions(CLI::App* cmd, TimingArgs& t) {
  cmd->add_option("--prefill-ms-per-token", t.prefill_ms_per_token,
                  "Timing model: prefill per uncached prompt token")
      ->default_val(0.12)
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--decode-ms-per-step", t.decode_ms_per_step,
                  "Timing model: a decode step (a token for each running request)")
      ->default_val(12)
      ->check(CLI::Range(0.0, 10000.0));
  cmd->add_option("--decode-ms-per-request", t.decode_ms_per_request,
                  "Timing model: added per running request in a step")
      ->default_val(0.2)
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--max-batch", t.max_batch, "Requests a replica runs at once")
      ->default_val(64)
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--cache-tokens", t.cache_tokens, "A replica's KV cache, in tokens")
      ->default_val(262144)
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--max-batched-tokens", t.max_batched_tokens,
                  "Timing model: chunked prefill, tokens per step (vLLM's "
                  "max_num_batched_tokens; 0: off, a prompt prefilled whole)")
      ->default_val(0)
      ->check(CLI::Range(0, 10'000'000));
}

void AddCatalogOption(CLI::App* cmd, std::vector<std::string>& paths) {
  cmd->add_option("--catalog", paths,
                  "Catalog to use instead of the built-in one (repeatable): a SkyPilot vms.csv, an "
                  "awan .yaml catalog, or a folder of <cloud>/vms.csv")
      ->type_name("PATH");
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{
      "awan: run AI training and inference across many clouds and clusters.\n"
      "Describe a workload once (a YAML task); awan finds where it runs best."};
  app.name("awan");
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);
  app.footer("Docs: README.md, docs/task-spec.md, docs/catalog.md, docs/optimizer.md");

  int exit_code = kExitOk;

  CheckArgs check;
  CLI::App* check_cmd = app.add_subcommand("check", "Validate a task file and print it normalised");
  check_cmd->add_option("task", check.task, "Task YAML file")->required()->type_name("TASK.yaml");
  check_cmd->add_flag("--json", check.json, "Print the normalised task as JSON");
  check_cmd->callback([&] { exit_code = RunCheck(check); });

  CLI::App* catalog_cmd = app.add_subcommand("catalog", "Offerings, prices and accelerator facts");
  catalog_cmd->require_subcommand(1);
  CatalogLsArgs ls;
  CLI::App* ls_cmd = catalog_cmd->add_subcommand("ls", "List offerings, cheapest first");
  AddCatalogOption(ls_cmd, ls.catalog.paths);
  ls_cmd->add_option("--accelerator,-a", ls.accelerator, "Only this accelerator (e.g. H100)");
  ls_cmd->add_option("--provider,-p", ls.provider, "Only this provider (e.g. aws)");
  ls_cmd->add_option("--region,-r", ls.region, "Only this region");
  ls_cmd->add_flag("--spot", ls.spot, "Only offerings with a spot price, sorted by it");
  ls_cmd->add_option("--limit,-n", ls.limit, "Show at most N rows (0 = all)")->default_val(0);
  ls_cmd->add_flag("--json", ls.json, "Print a JSON list");
  ls_cmd->callback([&] { exit_code = RunCatalogLs(ls); });

  CatalogArgs providers_catalog;
  bool providers_json = false;
  CLI::App* providers_cmd =
      catalog_cmd->add_subcommand("providers", "Providers in the catalog, with source and date");
  AddCatalogOption(providers_cmd, providers_catalog.paths);
  providers_cmd->add_flag("--json", providers_json, "Print a JSON list");
  providers_cmd->callback(
      [&] { exit_code = RunCatalogProviders(providers_catalog, providers_json); });

  bool accelerators_json = false;
  CLI::App* accelerators_cmd = catalog_cmd->add_subcommand(
      "accelerators", "Accelerator facts: dense BF16 TFLOP/s, HBM, bandwidth");
  accelerators_cmd->add_flag("--json", accelerators_json, "Print a JSON list");
  accelerators_cmd->callback([&] { exit_code = RunCatalogAccelerators(accelerators_json); });

  OptimizeArgs opt;
  CLI::App* opt_cmd =
      app.add_subcommand("optimize", "Rank where a task would run best, across every provider");
  opt_cmd->add_option("task", opt.task, "Task YAML file")->required()->type_name("TASK.yaml");
  AddCatalogOption(opt_cmd, opt.catalog.paths);
  opt_cmd->add_option("--objective", opt.objective, "cost ($/hour) or time (estimated run time)")
      ->check(CLI::IsMember({"cost", "time"}))
      ->default_val("cost");
  opt_cmd
      ->add_option("--providers", opt.providers,
                   "Only these providers (comma-separated; default: all in the catalog)")
      ->delimiter(',')
      ->type_name("P1,P2");
  opt_cmd
      ->add_option("--block", opt.block,
                   "Never place here (repeatable): PROVIDER, PROVIDER/REGION or "
                   "PROVIDER/REGION/ZONE")
      ->type_name("WHERE");
  opt_cmd
      ->add_option(
          "--config", opt.config,
          "Fleet config whose providers to rank over (default: $AWAN_HOME/config.yaml, else the "
          "embedded default fleet); ignored with --catalog")
      ->type_name("FILE");
  opt_cmd->add_option("--flops", opt.flops,
                      "Total FLOPs of the job, for --objective time (overrides "
                      "resources.accelerator_flops)");
  opt_cmd->add_option("--mfu", opt.mfu, "Model FLOPs utilisation assumed for time estimates")
      ->default_val(0.4);
  opt_cmd->add_option("--top", opt.top, "Show the best N placements (0 = all)")->default_val(10);
  opt_cmd->add_flag("--json", opt.json,
                    "Print {\"chosen\": P, \"candidates\": [P, ...]} (see docs/optimizer.md)");
  opt_cmd->callback([&] { exit_code = RunOptimize(opt); });

  CheckConfigArgs check_config;
  CLI::App* check_config_cmd = app.add_subcommand(
      "check-config", "Validate the fleet config: which providers load, and why any is left out");
  check_config_cmd
      ->add_option("--config", check_config.config,
                   "Fleet config (default: $AWAN_HOME/config.yaml, "
                   "else the embedded default)")
      ->type_name("FILE");
  check_config_cmd->add_flag("--default", check_config.print_default,
                             "Print the embedded default fleet's config");
  check_config_cmd->add_flag("--json", check_config.json, "Print {source, providers, errors}");
  check_config_cmd->callback([&] { exit_code = RunCheckConfig(check_config); });

  LaunchArgs launch;
  CLI::App* launch_cmd = app.add_subcommand(
      "launch",
      "Run a task: show where, then its progress and logs until it ends (exit code = the job's)");
  launch_cmd->add_option("task", launch.task, "Task YAML file")->required()->type_name("TASK.yaml");
  launch_cmd->add_flag("-d,--detach", launch.detach,
                       "Submit and return; the job id is the last line of stdout");
  launch_cmd->add_flag(
      "--retry-until-up", launch.retry_until_up,
      "When every placement fails, keep trying (capped backoff) instead of failing");
  launch_cmd
      ->add_option("--secret", launch.secrets,
                   "A secret given now, NAME=VALUE, or NAME to take it from your environment "
                   "(repeatable; never shown after)")
      ->type_name("NAME[=VALUE]");
  launch_cmd->callback([&] { exit_code = RunLaunch(launch); });

  StatusArgs status;
  CLI::App* status_cmd =
      app.add_subcommand("status", "Jobs and their states (newest first), or one job");
  status_cmd->add_option("job", status.job, "A job id (default: list jobs)")->type_name("JOB");
  status_cmd->add_flag("--json", status.json,
                       "One job object, or a list of them (see docs/api.md)");
  status_cmd->add_option("--limit,-n", status.limit, "List at most N jobs")->default_val(100);
  status_cmd->callback([&] { exit_code = RunStatus(status); });

  std::string logs_job;
  bool follow = false;
  CLI::App* logs_cmd =
      app.add_subcommand("logs", "A job's output (stdout and stderr of setup and run)");
  logs_cmd->add_option("job", logs_job, "Job id")->required()->type_name("JOB");
  logs_cmd->add_flag("-f,--follow", follow, "Keep printing new output until the job ends");
  logs_cmd->callback([&] { exit_code = RunLogs(logs_job, follow); });

  std::string cancel_job;
  CLI::App* cancel_cmd =
      app.add_subcommand("cancel", "Stop a job (SIGTERM to its process group, then SIGKILL)");
  cancel_cmd->add_option("job", cancel_job, "Job id")->required()->type_name("JOB");
  cancel_cmd->callback([&] { exit_code = RunCancel(cancel_job); });

  std::string events_job;
  bool events_json = false;
  CLI::App* events_cmd =
      app.add_subcommand("events", "Every state change of a job, with time and reason");
  events_cmd->add_option("job", events_job, "Job id")->required()->type_name("JOB");
  events_cmd->add_flag("--json", events_json, "A list of {time, type, message}");
  events_cmd->callback([&] { exit_code = RunEvents(events_job, events_json); });

  CLI::App* server_cmd =
      app.add_subcommand("server", "The awan server of $AWAN_HOME (default ~/.awan)");
  server_cmd->require_subcommand(1);
  ServerArgs server_args;
  bool server_json = false;
  CLI::App* start_cmd =
      server_cmd->add_subcommand("start", "Start it in the background (if not running)");
  start_cmd
      ->add_option("--config", server_args.config,
                   "Fleet config (default: $AWAN_HOME/config.yaml, else the embedded default)")
      ->type_name("FILE");
  start_cmd->callback([&] { exit_code = RunServerStart(server_args); });
  CLI::App* stop_cmd =
      server_cmd->add_subcommand("stop", "Stop it (jobs keep running; adopted at next start)");
  stop_cmd->callback([&] { exit_code = RunServerStop(); });
  CLI::App* server_status_cmd =
      server_cmd->add_subcommand("status", "Whether it runs: url, pid, store");
  server_status_cmd->add_flag("--json", server_json, "Print {running, url, pid, store, home}");
  server_status_cmd->callback([&] { exit_code = RunServerStatus(server_json); });
  CLI::App* run_cmd =
      server_cmd->add_subcommand("run", "Run it in the foreground (logs to stderr)");
  run_cmd->add_option("--host", server_args.host, "Address to listen on")->default_val("127.0.0.1");
  run_cmd
      ->add_option("--config", server_args.config,
                   "Fleet config (default: $AWAN_HOME/config.yaml, else the embedded default)")
      ->type_name("FILE");
  run_cmd->add_option("--port", server_args.port, "Port (0 = any free port; see server.json)")
      ->default_val(0);
  AddCatalogOption(run_cmd, server_args.catalog);
  run_cmd->callback([&] { exit_code = RunServerForeground(server_args); });

  CLI::App* serve_cmd =
      app.add_subcommand("serve", "Services: replicas spread over providers behind awan's gateway");
  serve_cmd->require_subcommand(1);
  ServeUpArgs serve_up;
  CLI::App* up_cmd = serve_cmd->add_subcommand(
      "up", "Start a service; waits for a ready replica; the endpoint URL is the last line");
  up_cmd->add_option("file", serve_up.file, "Service YAML (a task with a service: section)")
      ->required()
      ->type_name("SERVICE.yaml");
  up_cmd->add_option("--name,-n", serve_up.name, "Service name (default: the file's name:)");
  up_cmd->add_flag("-d,--detach", serve_up.detach, "Do not wait for a ready replica");
  up_cmd->add_option("--wait", serve_up.wait_s, "Seconds to wait for a ready replica")
      ->default_val(600)
      ->check(CLI::Range(1, 86400));
  up_cmd->callback([&] { exit_code = RunServeUp(serve_up); });
  std::string serve_name;
  bool serve_json = false;
  CLI::App* serve_status_cmd =
      serve_cmd->add_subcommand("status", "Services, their replicas and endpoints");
  serve_status_cmd->add_option("name", serve_name, "One service (default: all)");
  serve_status_cmd->add_flag("--json", serve_json,
                             "The service object (or {services: [...]}); see docs/api.md");
  serve_status_cmd->callback([&] { exit_code = RunServeStatus(serve_name, serve_json); });
  ServeUpdateArgs serve_update;
  CLI::App* update_cmd = serve_cmd->add_subcommand(
      "update", "Roll a new version of a service's task out without dropping requests");
  update_cmd->add_option("name", serve_update.name, "Service")->required();
  update_cmd->add_option("file", serve_update.file, "New service YAML")
      ->required()
      ->type_name("SERVICE.yaml");
  update_cmd
      ->add_option("--mode", serve_update.mode,
                   "rolling (one replica at a time) or blue_green (all, once the new are ready)")
      ->check(CLI::IsMember({"rolling", "blue_green"}))
      ->default_val("rolling");
  update_cmd->callback([&] { exit_code = RunServeUpdate(serve_update); });
  bool down_wait = false;
  CLI::App* down_cmd = serve_cmd->add_subcommand("down", "Take a service down");
  down_cmd->add_option("name", serve_name, "Service")->required();
  down_cmd->add_flag("--wait", down_wait, "Return once every replica stopped");
  down_cmd->callback([&] { exit_code = RunServeDown(serve_name, down_wait); });
  int64_t serve_replica = 0;
  bool serve_follow = false;
  CLI::App* serve_logs_cmd = serve_cmd->add_subcommand("logs", "A replica's output");
  serve_logs_cmd->add_option("name", serve_name, "Service")->required();
  serve_logs_cmd->add_option("--replica", serve_replica, "Replica id (default: the oldest)");
  serve_logs_cmd->add_flag("-f,--follow", serve_follow, "Keep printing new output");
  serve_logs_cmd->callback(
      [&] { exit_code = RunServeLogs(serve_name, serve_replica, serve_follow); });

  ServeReplayArgs replay;
  CLI::App* replay_cmd = serve_cmd->add_subcommand(
      "replay",
      "Replay a recorded LLM trace on emulated replicas, per routing policy (TTFT, hits, balance)");
  replay_cmd->add_option("--trace", replay.trace, "Trace file (../shared/data/llm_inference/...)")
      ->required()
      ->check(CLI::ExistingFile);
  replay_cmd->add_option("--format", replay.format, "azure (CSV) or mooncake (JSONL)")
      ->required()
      ->check(CLI::IsMember({"azure", "mooncake"}));
  replay_cmd->add_option("--speed", replay.speed, "Arrivals sped up by this factor")
      ->default_val(1)
      ->check(CLI::Range(0.001, 1000.0));
  replay_cmd->add_option("--replicas", replay.replicas, "Emulated replicas")
      ->default_val(8)
      ->check(CLI::Range(1, 4096));
  CLI::Option* replay_policies =
      replay_cmd
          ->add_option("--policies", replay.policies,
                       "Routing policies, comma-separated (with --autoscalers: least_load)")
          ->default_str(replay.policies);
  replay_cmd->add_option("--limit", replay.limit, "Only the first N requests (0: all)")
      ->default_val(0);
  replay_cmd->add_flag("--json", replay.json,
                       "Print {policies: [{policy, ttft_s: {p50, p90, p99}, prefix_hit_ratio, "
                       "max_over_mean_load, output_tokens_per_s, requests, ...}]}");
  AddTimingOptions(replay_cmd, replay.timing);
  replay_cmd->add_option("--url", replay.url,
                         "Replay against this running OpenAI-compatible endpoint (a service's "
                         "route: its endpoint URL) in real time, instead of emulated replicas");
  replay_cmd->add_option("--label", replay.label, "With --url: the row's name")
      ->default_val("live");
  replay_cmd->add_option("--model", replay.model, "With --url: the model to ask for");
  replay_cmd->add_option("--api-key-env", replay.api_key_env,
                         "With --url: send `Authorization: Bearer` with the key in this variable");
  replay_cmd->add_option("--replica-metrics", replay.replica_metrics,
                         "With --url: the replicas' /metrics URLs, comma-separated (vLLM's token "
                         "counters, read before and after: the MAX/MEAN column)");
  replay_cmd->add_option("--slo-ttft", replay.slo_ttft_s, "Goodput SLO: time to first token (s)")
      ->default_val(2)
      ->check(CLI::Range(0.0, 86400.0));
  replay_cmd
      ->add_option("--slo-tpot", replay.slo_tpot_s,
                   "Goodput SLO: time per output token after the first (s)")
      ->default_val(0.1)
      ->check(CLI::Range(0.0, 3600.0));
  replay_cmd->add_option("--autoscalers", replay.autoscalers,
                         "Compare autoscalers instead of fixed replicas: comma-separated "
                         "SIGNAL=TARGET[+SIGNAL=TARGET], SIGNAL qps, in_flight, "
                         "tokens_in_flight, tokens_per_s or waiting (per replica), e.g. "
                         "qps=4,tokens_in_flight=30000");
  replay_cmd->add_option("--min-replicas", replay.min_replicas, "With --autoscalers")
      ->default_val(1)
      ->check(CLI::Range(1, 4096));
  replay_cmd->add_option("--max-replicas", replay.max_replicas, "With --autoscalers")
      ->default_val(16)
      ->check(CLI::Range(1, 4096));
  replay_cmd
      ->add_option("--upscale-delay", replay.upscale_delay_s,
                   "With --autoscalers: seconds the load must ask for more before a scale-up")
      ->default_val(30)
      ->check(CLI::Range(0.0, 86400.0));
  replay_cmd
      ->add_option("--downscale-delay", replay.downscale_delay_s,
                   "With --autoscalers: seconds the load must ask for fewer before a scale-down")
      ->default_val(120)
      ->check(CLI::Range(0.0, 86400.0));
  replay_cmd
      ->add_option("--replica-start", replay.replica_start_s,
                   "With --autoscalers: seconds from a replica's launch until it serves")
      ->default_val(60)
      ->check(CLI::Range(0.0, 86400.0));
  replay_cmd
      ->add_option("--load-window", replay.load_window_s,
                   "With --autoscalers: seconds over which QPS and the other signals' means are "
                   "measured")
      ->default_val(10)
      ->check(CLI::Range(0.1, 86400.0));
  replay_cmd->callback([&] {
    replay.policies_given = replay_policies->count() > 0;
    exit_code = RunServeReplay(replay);
  });

  LlmReplicaArgs llm_replica;
  CLI::App* llm_replica_cmd = app.add_subcommand(
      "llm-replica",
      "Run an emulated LLM replica in the foreground: OpenAI-compatible API, vLLM's metrics, "
      "timing from a model of prefill, decode and a prefix KV cache (no GPU, no weights)");
  llm_replica_cmd->add_option("--host", llm_replica.host, "Address to listen on")
      ->default_val("127.0.0.1");
  llm_replica_cmd->add_option("--port", llm_replica.port, "Port to listen on (0: any free one)")
      ->default_val(8000)
      ->check(CLI::Range(0, 65535));
  llm_replica_cmd->add_option("--model", llm_replica.model, "Model name it serves")
      ->default_val("awan-emulated");
  llm_replica_cmd->add_option("--api-key-env", llm_replica.api_key_env,
                              "Require `Authorization: Bearer KEY`, KEY from this variable");
  llm_replica_cmd->add_option("--block-size", llm_replica.block_size, "KV block, in tokens")
      ->default_val(16)
      ->check(CLI::Range(1, 4096));
  AddTimingOptions(llm_replica_cmd, llm_replica.timing);
  llm_replica_cmd->callback([&] { exit_code = RunLlmReplica(llm_replica); });

  CLI::App* keys_cmd = serve_cmd->add_subcommand(
      "keys", "API keys of a service with `auth: api_key` (checked by the gateway)");
  keys_cmd->require_subcommand(1);
  std::string key_arg;
  bool keys_json = false;
  CLI::App* key_create =
      keys_cmd->add_subcommand("create", "A new key, shown once: the last line of stdout");
  key_create->add_option("name", serve_name, "Service")->required();
  key_create->add_option("--label", key_arg, "What the key is for");
  key_create->add_flag("--json", keys_json, "Print {id, label, key}");
  key_create->callback([&] { exit_code = RunServeKeys("create", serve_name, key_arg, keys_json); });
  CLI::App* key_ls = keys_cmd->add_subcommand("ls", "A service's keys (never the keys themselves)");
  key_ls->add_option("name", serve_name, "Service")->required();
  key_ls->add_flag("--json", keys_json, "Print [{id, label, created_at, revoked_at}]");
  key_ls->callback([&] { exit_code = RunServeKeys("ls", serve_name, "", keys_json); });
  CLI::App* key_revoke = keys_cmd->add_subcommand("revoke", "Refuse a key from now on");
  key_revoke->add_option("name", serve_name, "Service")->required();
  key_revoke->add_option("id", key_arg, "Key id (see `awan serve keys ls`)")->required();
  key_revoke->callback([&] { exit_code = RunServeKeys("revoke", serve_name, key_arg, false); });

  GatewayArgs gateway_args;
  CLI::App* gateway_cmd = app.add_subcommand(
      "gateway",
      "Run a gateway in the foreground: serves every service's endpoint, routes from the server");
  gateway_cmd->add_option("--host", gateway_args.host, "Address the routes listen on")
      ->default_val("127.0.0.1");
  gateway_cmd
      ->add_option("--admin-port", gateway_args.admin_port,
                   "Port of /metrics and /health (0 = any free port)")
      ->default_val(0);
  gateway_cmd->add_option("--poll-ms", gateway_args.poll_ms, "How often to ask the server")
      ->default_val(500)
      ->check(CLI::Range(50, 60000));
  gateway_cmd->add_option("--state-file", gateway_args.state_file,
                          "Write {pid, admin_url} here while running");
  gateway_cmd
      ->add_option("--route", gateway_args.routes,
                   "A fixed route instead of the server's, repeatable: "
                   "NAME=PORT=HOST:PORT[,HOST:PORT...] (replicas you run yourself)")
      ->type_name("ROUTE");
  gateway_cmd->add_option("--policy", gateway_args.policy, "Policy of the fixed routes")
      ->default_val("least_load");
  gateway_cmd
      ->add_option("--readiness-path", gateway_args.readiness_path,
                   "Readiness path of the fixed routes' replicas")
      ->default_val("/");
  gateway_cmd
      ->add_option("--fallbacks", gateway_args.fallbacks_file,
                   "Managed endpoints of the fixed routes, tried in order when no replica "
                   "answers (YAML: fallbacks: [{kind, base_url, model, api_key_env}, ...])")
      ->check(CLI::ExistingFile);
  gateway_cmd->add_option("--tls-cert", gateway_args.tls_certfile,
                          "HTTPS for the fixed routes: certificate chain (PEM)");
  gateway_cmd->add_option("--tls-key", gateway_args.tls_keyfile,
                          "HTTPS for the fixed routes: private key (PEM)");
  gateway_cmd->add_flag("--allow-unauthenticated", gateway_args.allow_unauthenticated,
                        "Beyond loopback, serve services without API keys too");
  gateway_cmd->callback([&] { exit_code = RunGateway(gateway_args); });

  CLI::App* sim_cmd = app.add_subcommand("sim",
                                         "Control the emulated clouds (sim providers) of the "
                                         "running server: outages, preemptions, books");
  sim_cmd->require_subcommand(1);
  std::string sim_where, sim_for, sim_node, sim_provider;
  bool sim_json = false;
  CLI::App* outage_cmd =
      sim_cmd->add_subcommand("outage", "Take a provider or one of its regions down");
  outage_cmd->add_option("where", sim_where, "PROVIDER or PROVIDER/REGION")->required();
  outage_cmd->add_option("--for", sim_for,
                         "How long, e.g. 30s, 10m, 2h (default: until `awan sim restore`)");
  outage_cmd->callback([&] { exit_code = RunSimOutage(sim_where, sim_for); });
  CLI::App* restore_cmd = sim_cmd->add_subcommand("restore", "End an outage");
  restore_cmd->add_option("where", sim_where, "PROVIDER or PROVIDER/REGION")->required();
  restore_cmd->callback([&] { exit_code = RunSimRestore(sim_where); });
  CLI::App* preempt_cmd =
      sim_cmd->add_subcommand("preempt", "Preempt the emulated node (its job is queued again)");
  int64_t sim_job = 0;
  preempt_cmd->add_option("node", sim_node, "A node's host name, as `awan status JOB` shows");
  preempt_cmd->add_option("--job", sim_job, "Preempt the node of this job (its rank 0) instead");
  preempt_cmd->callback([&] { exit_code = RunSimPreempt(sim_node, sim_job); });
  CLI::App* books_cmd =
      sim_cmd->add_subcommand("books", "Nodes held against capacity, per zone and instance type");
  books_cmd->add_option("--provider", sim_provider, "Only this provider");
  books_cmd->add_flag("--json", sim_json, "Print a JSON list");
  books_cmd->callback([&] { exit_code = RunSimBooks(sim_provider, sim_json); });

  CLI::App* storage_cmd = app.add_subcommand(
      "storage", "Buckets of the server's stores (file_mounts with a bucket; docs/storage.md)");
  storage_cmd->require_subcommand(1);
  bool storage_json = false;
  std::string storage_name, storage_store = "local";
  CLI::App* storage_ls_cmd = storage_cmd->add_subcommand("ls", "List the buckets");
  storage_ls_cmd->add_flag("--json", storage_json, "Print {\"buckets\": [...]}");
  storage_ls_cmd->callback([&] { exit_code = RunStorageLs(storage_json); });
  CLI::App* storage_delete_cmd = storage_cmd->add_subcommand(
      "delete", "Delete a bucket and everything in it (refused while a job attaches it)");
  storage_delete_cmd->add_option("name", storage_name, "The bucket")->required();
  storage_delete_cmd->add_option("--store", storage_store, "Its store (default: local)");
  storage_delete_cmd->callback([&] { exit_code = RunStorageDelete(storage_name, storage_store); });

  CLI::App* fleet_cmd =
      app.add_subcommand("fleet", "Scheduler fleet files (pools, contracts, teams)");
  fleet_cmd->require_subcommand(1);
  std::string fleet_path;
  bool fleet_json = false;
  CLI::App* fleet_check_cmd =
      fleet_cmd->add_subcommand("check", "Validate a fleet file and summarise it");
  fleet_check_cmd->add_option("fleet", fleet_path, "Fleet YAML (e.g. examples/fleets/500k.yaml)")
      ->required();
  fleet_check_cmd->add_flag("--json", fleet_json, "Print a JSON summary");
  fleet_check_cmd->callback([&] { exit_code = RunFleetCheck(fleet_path, fleet_json); });

  SimulateArgs simulate;
  CLI::App* simulate_cmd = app.add_subcommand("simulate",
                                              "Replay a cluster trace or a synthetic workload "
                                              "through the fleet scheduler (what-if planning)");
  simulate_cmd->footer(
      "Examples:\n"
      "  awan simulate --fleet examples/fleets/small.yaml --synthetic 10000 --policy backfill\n"
      "  awan simulate --fleet examples/fleets/500k.yaml --synthetic 1000000 --scenario "
      "examples/scenarios/500k-aws-outage.yaml\n"
      "  awan simulate --fleet-from-nodes openb_node_list_gpu_node.csv --trace "
      "openb_pod_list_default.train.csv "
      "--format alibaba-openb\n"
      "Formats, scenario files and outputs: docs/simulator.md");
  simulate_cmd->add_option("--fleet", simulate.fleet, "Fleet YAML (pools, contracts, teams)")
      ->type_name("FLEET.yaml");
  simulate_cmd
      ->add_option("--fleet-from-nodes", simulate.fleet_from_nodes,
                   "Use an Alibaba openb node list (CSV) as the fleet instead")
      ->type_name("NODES.csv");
  simulate_cmd->add_option("--trace", simulate.trace, "Job trace to replay")->type_name("FILE");
  simulate_cmd->add_option("--format", simulate.format,
                           "Trace format: philly, alibaba-openb or awan");
  simulate_cmd
      ->add_option("--synthetic", simulate.synthetic, "Generate N jobs instead of reading a trace")
      ->type_name("N");
  simulate_cmd
      ->add_option("--profile", simulate.profile,
                   "Synthetic workload preset: helios, acme-seren, acme-kalos, philly")
      ->default_val("helios");
  simulate_cmd->add_option("--arrivals-per-hour", simulate.arrivals_per_hour,
                           "Synthetic arrival rate (default: set by --load)");
  simulate_cmd
      ->add_option("--load", simulate.load,
                   "Synthetic offered load as a fraction of the fleet's accelerators")
      ->default_val(0.9);
  simulate_cmd
      ->add_option("--size-mix", simulate.size_mix, "Synthetic gang sizes, e.g. 1:0.7,8:0.2,64:0.1")
      ->type_name("N:W,...");
  simulate_cmd->add_option("--duration-median", simulate.duration_median_s,
                           "Synthetic median run time (s)");
  simulate_cmd->add_option("--duration-mean", simulate.duration_mean_s,
                           "Synthetic mean run time (s)");
  simulate_cmd->add_option("--policy", simulate.policy, "fifo, priority, fairshare or backfill")
      ->default_val("fifo");
  simulate_cmd
      ->add_option("--scenario", simulate.scenario,
                   "What-if scenario: outages, contract slips, checkpoints")
      ->type_name("SCENARIO.yaml");
  simulate_cmd
      ->add_option("--seed", simulate.seed,
                   "Seed of the synthetic generator and spot interruptions")
      ->default_val(1);
  simulate_cmd
      ->add_option("--backfill-window", simulate.backfill_window,
                   "Jobs looked at behind a blocked head when backfilling")
      ->default_val(500);
  simulate_cmd
      ->add_option("--backfill-interval", simulate.backfill_interval_s,
                   "Seconds between backfill scans (0 = every pass; Slurm uses 30)")
      ->default_val(0);
  simulate_cmd->add_option("--sample", simulate.sample_s,
                           "Time-series interval in seconds (default: ~500 points)");
  AddCatalogOption(simulate_cmd, simulate.catalog.paths);
  simulate_cmd
      ->add_option("--out", simulate.out,
                   "Write summary.json, timeseries.csv and timeseries.svg here")
      ->type_name("DIR");
  simulate_cmd->add_flag("--json", simulate.json, "Print the summary as one JSON object");
  simulate_cmd->add_flag("--quiet,-q", simulate.quiet, "No progress lines on stderr");
  simulate_cmd->callback([&] { exit_code = RunSimulate(simulate); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  return exit_code;
}

}  // namespace awan::cli
