// The `service:` section: SkyPilot's (SkyServe) fields with their defaults, awan's `spread:`, and
// clear errors naming file, line and field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "awan/spec/task_parser.h"

namespace awan::spec {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Task> Parse(std::string_view yaml) {
  return ParseTask(yaml, "svc.yaml", std::filesystem::temp_directory_path().string());
}

ServiceSpec MustParse(std::string_view yaml) {
  auto task = Parse(yaml);
  EXPECT_TRUE(task.ok()) << task.status();
  if (!task.ok()) return {};
  EXPECT_TRUE(task->service.has_value());
  return task->service.value_or(ServiceSpec{});
}

std::string ErrorOf(std::string_view yaml) {
  auto task = Parse(yaml);
  EXPECT_FALSE(task.ok()) << "expected an error for:\n" << yaml;
  return task.ok() ? "" : std::string(task.status().message());
}

TEST(ServiceSpecTest, ShortFormsTakeSkyPilotsDefaults) {
  const ServiceSpec s =
      MustParse("resources: {ports: 8080}\nservice:\n  readiness_probe: /health\n  replicas: 3\n");
  EXPECT_EQ(s.readiness_probe.path, "/health");
  EXPECT_EQ(s.readiness_probe.initial_delay_s, 1200);
  EXPECT_EQ(s.readiness_probe.timeout_s, 15);
  EXPECT_FALSE(s.readiness_probe.post_data.has_value());
  EXPECT_EQ(s.replica_policy.min_replicas, 3);
  EXPECT_EQ(s.replica_policy.max_replicas, 3);
  EXPECT_FALSE(s.replica_policy.autoscales());
  EXPECT_EQ(s.load_balancing_policy, "least_load");
  EXPECT_EQ(s.port, 8080);  // from resources.ports
  EXPECT_EQ(s.spread, Spread{});
  // Neither replicas nor replica_policy: one replica.
  EXPECT_EQ(MustParse("service: {readiness_probe: /, ports: 80}").replica_policy.min_replicas, 1);
}

TEST(ServiceSpecTest, EveryFieldIsRead) {
  const ServiceSpec s = MustParse(R"(resources: {use_spot: true}
service:
  readiness_probe:
    path: /v1/models
    post_data: {model: llama, max_tokens: 1}
    initial_delay_seconds: 60
    timeout_seconds: 2.5
    headers: {Authorization: Bearer x}
  replica_policy:
    min_replicas: 2
    max_replicas: 10
    target_qps_per_replica: 2.5
    upscale_delay_seconds: 30
    downscale_delay_seconds: 120
    num_overprovision: 1
    base_ondemand_fallback_replicas: 1
    dynamic_ondemand_fallback: true
  load_balancing_policy: Round_Robin
  ports: 8081
  spread: {providers: 2, regions: 3}
)");
  EXPECT_EQ(s.readiness_probe.path, "/v1/models");
  EXPECT_EQ(s.readiness_probe.post_data, R"({"model":"llama","max_tokens":1})");
  EXPECT_EQ(s.readiness_probe.initial_delay_s, 60);
  EXPECT_EQ(s.readiness_probe.timeout_s, 2.5);
  ASSERT_EQ(s.readiness_probe.headers.size(), 1u);
  EXPECT_EQ(s.readiness_probe.headers[0].second, "Bearer x");
  const ReplicaPolicy& p = s.replica_policy;
  EXPECT_EQ(p.min_replicas, 2);
  EXPECT_EQ(p.max_replicas, 10);
  EXPECT_EQ(p.target_qps_per_replica, 2.5);
  EXPECT_EQ(p.upscale_delay_s, 30);
  EXPECT_EQ(p.downscale_delay_s, 120);
  EXPECT_EQ(p.num_overprovision, 1);
  EXPECT_EQ(p.base_ondemand_fallback_replicas, 1);
  EXPECT_TRUE(p.dynamic_ondemand_fallback);
  EXPECT_EQ(s.load_balancing_policy, "round_robin");
  EXPECT_EQ(s.port, 8081);
  EXPECT_EQ(s.spread.providers, 2);
  EXPECT_EQ(s.spread.regions, 3);
}

TEST(ServiceSpecTest, TheNormalisedFormReadsBackTheSame) {
  auto task = Parse(R"(resources: {ports: 9000}
service:
  readiness_probe: {path: /ready, post_data: '{"a": 1}', headers: {X-A: b}}
  replica_policy: {min_replicas: 1, max_replicas: 4, target_qps_per_replica: 0.5,
                   target_tokens_in_flight_per_replica: 20000, target_waiting_per_replica: 2}
  spread: {providers: 2}
run: serve
)");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->service->replica_policy.target_tokens_in_flight_per_replica, 20000);
  EXPECT_EQ(task->service->replica_policy.target_waiting_per_replica, 2);
  auto again = Parse(TaskToYaml(*task));
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << TaskToYaml(*task);
  EXPECT_EQ(again->service, task->service);
  EXPECT_THAT(TaskToJson(*task), HasSubstr("\"target_qps_per_replica\": 0.5"));
  // A token target on a fixed replica count is refused, naming it and the fix.
  auto fixed = Parse(R"(resources: {ports: 9000}
service:
  readiness_probe: /
  replica_policy: {min_replicas: 2, target_tokens_in_flight_per_replica: 20000}
run: serve
)");
  ASSERT_FALSE(fixed.ok());
  EXPECT_THAT(fixed.status().message(),
              HasSubstr("target_tokens_in_flight_per_replica scales between min_replicas and "
                        "max_replicas: give a max_replicas larger than min_replicas"));
}

// A replica's task: the service section gone, its port and name in envs; an on-demand fallback
// replica has every use_spot turned off, any_of and ordered entries included.
TEST(ServiceSpecTest, AReplicasTaskDropsTheServiceAndTheFallbackOneAsksForOnDemand) {
  const std::string yaml = R"(name: svc
resources:
  use_spot: true
  any_of: [{infra: aws, use_spot: true}, {infra: gcp}]
service:
  readiness_probe: /health
  replica_policy: {min_replicas: 1, max_replicas: 2, target_qps_per_replica: 5, dynamic_ondemand_fallback: true}
  ports: 8080
run: python3 -m http.server $AWAN_REPLICA_PORT
)";
  ASSERT_TRUE(Parse(yaml).ok()) << Parse(yaml).status();
  auto spot = ReplicaTaskYaml(yaml, "svc", 4242);
  ASSERT_TRUE(spot.ok()) << spot.status();
  auto task = Parse(*spot);
  ASSERT_TRUE(task.ok()) << task.status() << "\n" << *spot;
  EXPECT_FALSE(task->service.has_value());
  const auto env = [&](const std::string& key) {
    for (const auto& [k, v] : task->envs) {
      if (k == key) return v.value_or("");
    }
    return std::string("(unset)");
  };
  EXPECT_EQ(env("AWAN_REPLICA_PORT"), "4242");
  EXPECT_EQ(env("AWAN_SERVICE_NAME"), "svc");
  ASSERT_EQ(task->resources.size(), 2u);
  for (const Resources& r : task->resources) EXPECT_TRUE(r.use_spot);

  auto on_demand = ReplicaTaskYaml(yaml, "svc", 4242, /*on_demand=*/true);
  ASSERT_TRUE(on_demand.ok()) << on_demand.status();
  task = Parse(*on_demand);
  ASSERT_TRUE(task.ok()) << task.status() << "\n" << *on_demand;
  ASSERT_EQ(task->resources.size(), 2u);
  for (const Resources& r : task->resources) EXPECT_FALSE(r.use_spot) << *on_demand;
}

TEST(ServiceSpecTest, MistakesAreErrorsNamingLineAndField) {
  EXPECT_THAT(ErrorOf("service: {replicas: 2, ports: 80}\n"),
              HasSubstr("svc.yaml:1:1: service.readiness_probe: is required"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /}\n"),
              HasSubstr("service.ports: a service needs the port its replicas listen on"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: health, ports: 80}\n"),
              HasSubstr("service.readiness_probe.path: 'health' must start with /"));
  const std::string both = ErrorOf(
      "service:\n  readiness_probe: /\n  ports: 80\n  replicas: 2\n  replica_policy: "
      "{min_replicas: 1}\n");
  EXPECT_THAT(both, HasSubstr("svc.yaml:4:13: service.replicas: give either"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replica_policy: {min_replicas: "
                      "4, max_replicas: 2}}\n"),
              HasSubstr("max_replicas (2) is less than min_replicas (4)"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replica_policy: {min_replicas: "
                      "1, max_replicas: 3}}\n"),
              HasSubstr("needs target_qps_per_replica"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replica_policy: {max_replicas: "
                      "3}}\n"),
              HasSubstr("service.replica_policy: needs `min_replicas`"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, load_balancing_policy: "
                      "least_laod}\n"),
              HasSubstr("unknown policy 'least_laod' (did you mean 'least_load'?)"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, auth: apikey}\n"),
              HasSubstr("service.auth: 'apikey' is not one of: none, api_key"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replicaz: 2}\n"),
              HasSubstr("service.replicaz: unknown field (did you mean 'replicas'?)"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, workers: 2}\n"),
              HasSubstr("service.workers: is a SkyPilot field that awan does not support yet"));
  EXPECT_THAT(ErrorOf("num_nodes: 2\nservice: {readiness_probe: /, ports: 80}\n"),
              HasSubstr("a service's replica is one node"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replica_policy: {min_replicas: "
                      "1, base_ondemand_fallback_replicas: 1}}\n"),
              HasSubstr("an on-demand fallback is for spot replicas"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replicas: 2, spread: "
                      "{providers: 3}}\n"),
              HasSubstr("2 replica(s) at most cannot be spread over 3 providers"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: {path: /, timeout_seconds: 1e9}, ports: 80}\n"),
              HasSubstr("timeout_seconds: must be from 0.001 to 3600 seconds"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, replicas: 2147483648}\n"),
              HasSubstr("service.replicas: must be a whole number from 0 to 10000"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 0}\n"),
              HasSubstr("service.ports: must be a whole number from 1 to 65535"));
  EXPECT_THAT(ErrorOf("service: {readiness_probe: /, ports: 80, tls: {keyfile: /nonexistent/k}}\n"),
              HasSubstr("service.tls.keyfile: local path '/nonexistent/k' does not exist"));
  EXPECT_THAT(ErrorOf("service: [readiness_probe]\n"), HasSubstr("service: must be a mapping"));
}

TEST(ServiceSpecTest, FallbacksAreManagedEndpointsWithTheirKeysNamedNeverWritten) {
  const ServiceSpec s = MustParse(R"(resources: {ports: 8080}
service:
  readiness_probe: /health
  fallbacks:
    - kind: openai
      base_url: https://api.openai.com/v1
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY
      timeout_seconds: 5
    - kind: azure_openai
      base_url: https://lab.openai.azure.com
      deployment: gpt4o
      api_version: "2024-10-21"
      api_key_env: AZURE_OPENAI_API_KEY
      cooldown_seconds: 30
    - {kind: openai, base_url: "http://127.0.0.1:9000/v1"}
)");
  ASSERT_EQ(s.fallbacks.size(), 3u);
  EXPECT_EQ(s.fallbacks[0].name, "openai");
  EXPECT_EQ(s.fallbacks[0].model, "gpt-4o-mini");
  EXPECT_EQ(s.fallbacks[0].timeout_s, 5);
  EXPECT_EQ(s.fallbacks[1].name, "azure_openai");
  EXPECT_EQ(s.fallbacks[1].api_version, "2024-10-21");
  EXPECT_EQ(s.fallbacks[1].cooldown_s, 30);
  EXPECT_EQ(s.fallbacks[2].name, "openai-2");
  // The normalised form keeps them (and reads back the same).
  auto task = Parse(
      "resources: {ports: 8080}\nservice:\n  readiness_probe: /health\n  fallbacks:\n"
      "    - {kind: openai, base_url: 'http://x/v1', api_key_env: K}\n");
  ASSERT_TRUE(task.ok());
  auto again = Parse(TaskToYaml(*task));
  ASSERT_TRUE(again.ok()) << again.status() << TaskToYaml(*task);
  EXPECT_EQ(again->service->fallbacks, task->service->fallbacks);

  const std::string head = "resources: {ports: 8080}\nservice:\n  readiness_probe: /health\n";
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: openai, base_url: 'http://x', "
                             "api_key: sk-123}\n"),
              HasSubstr("svc.yaml:5:44: service.fallbacks[0].api_key: a key is never written in "
                        "the task file"));
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: openai, base_url: 'http://x', "
                             "api_key: sk-123}\n"),
              ::testing::Not(HasSubstr("sk-123")));  // the key itself is never repeated
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: gemini, base_url: 'http://x'}\n"),
              HasSubstr("service.fallbacks[0].kind: 'gemini' is not one of: openai, azure_openai, "
                        "bedrock, vertex"));
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: vertex, region: us-central1}\n"),
              HasSubstr("a vertex endpoint needs `project`, `region` and `model`"));
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: bedrock, model: m}\n"),
              HasSubstr("a bedrock endpoint needs `region` and `model`"));
  const ServiceSpec b = MustParse(head +
                                  "  fallbacks:\n    - {kind: bedrock, region: us-east-1, "
                                  "model: 'anthropic.claude-3-haiku-20240307-v1:0'}\n");
  ASSERT_EQ(b.fallbacks.size(), 1u);
  EXPECT_EQ(b.fallbacks[0].region, "us-east-1");
  EXPECT_EQ(b.fallbacks[0].base_url, "");  // bedrock-runtime.us-east-1.amazonaws.com
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: azure_openai, base_url: 'https://x', "
                             "api_key_env: K}\n"),
              HasSubstr("needs `deployment` and `api_version`"));
  EXPECT_THAT(
      ErrorOf(head + "  fallbacks:\n    - {kind: openai, base_url: 'x.com'}\n"),
      HasSubstr("service.fallbacks[0].base_url: 'x.com' must be an http:// or https:// URL"));
  EXPECT_THAT(ErrorOf(head + "  fallbacks:\n    - {kind: openai, base_url: 'http://x', "
                             "timeout_seconds: 0}\n"),
              HasSubstr("service.fallbacks[0].timeout_seconds"));
  EXPECT_THAT(ErrorOf(head + "  fallbacks: {kind: openai}\n"), HasSubstr("must be a list"));
}

}  // namespace
}  // namespace awan::spec
