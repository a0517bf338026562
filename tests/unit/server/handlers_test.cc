// The API's route table and handlers against a real SQLite store in a temp dir and a real
// controller (not started: the tests look at what the API answers, not at jobs running).
#include "server/handlers.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "awan/catalog/catalog.h"
#include "awan/catalog/loader.h"
#include "awan/controller/job_controller.h"
#include "awan/providers/fleet.h"
#include "awan/server/api.h"

namespace awan::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using J = nlohmann::json;

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            fmt::format("awan-handlers-{}-{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_);
    auto s = store::OpenStore((home_ / "awan.db").string());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    providers::LocalResources machine;
    machine.cpus = 4;
    machine.memory_gib = 16;
    machine.hostname = "testhost";
    controller::ControllerOptions options;
    options.home = home_.string();
    controller_ = std::make_unique<controller::JobController>(*store_, machine, options);
    options_.home = home_.string();
    context_ = std::make_unique<ApiContext>(ApiContext{*controller_, *store_, catalog_, options_,
                                                       nullptr, [] { return std::string("x"); }});
    router_ = std::make_unique<Router>(MakeRouter(*context_));
  }
  void TearDown() override {
    router_.reset();
    controller_.reset();
    fs::remove_all(home_);
  }
  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "t") {
    HttpRequest r{method, target, body, token.empty() ? "" : "Bearer " + token};
    return router_->Dispatch(r, [](const HttpRequest& req) {
      if (req.authorization.empty()) return 401;
      return req.authorization == "Bearer t" ? 0 : 403;
    });
  }
  static std::string Header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  fs::path home_;
  std::unique_ptr<store::Store> store_;
  catalog::Catalog catalog_;
  ServerOptions options_;
  std::unique_ptr<controller::JobController> controller_;
  std::unique_ptr<ApiContext> context_;
  std::unique_ptr<Router> router_;
};

TEST_F(HandlersTest, HealthIsPublicAndEverythingElseNeedsTheToken) {
  EXPECT_EQ(Send("GET", "/v1/health", "", "").status, 200);
  const HttpResponse missing = Send("GET", "/v1/jobs", "", "");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(Header(missing, "WWW-Authenticate"), "Bearer");
  EXPECT_EQ(Send("GET", "/v1/jobs", "", "wrong").status, 403);
  EXPECT_EQ(Send("GET", "/v1/jobs").status, 200);
}

TEST_F(HandlersTest, WrongMethodsGet405WithAllowAndHeadIsAnswered) {
  const HttpResponse del = Send("DELETE", "/v1/jobs");
  EXPECT_EQ(del.status, 405);
  EXPECT_EQ(Header(del, "Allow"), "POST, GET, HEAD");
  EXPECT_THAT(del.body, HasSubstr("/v1/jobs does not take DELETE"));
  const HttpResponse put = Send("PUT", "/v1/jobs/3/cancel");
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(Header(put, "Allow"), "POST");
  EXPECT_EQ(Send("HEAD", "/v1/health", "", "").status, 200);
  EXPECT_EQ(Send("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Send("GET", "/v1/jobs/abc").status, 400);
  EXPECT_EQ(Send("GET", "/v1/jobs/99").status, 404);
  EXPECT_EQ(Send("GET", "/v1/jobs/\xff").status, 400);
}

TEST_F(HandlersTest, OptionalFieldsOfTheWrongTypeAndUnknownFieldsAre400) {
  const auto launch = [&](const J& body) { return Send("POST", "/v1/jobs", body.dump()); };
  const HttpResponse retry = launch({{"task_yaml", "run: echo hi\n"}, {"retry_until_up", "yes"}});
  EXPECT_EQ(retry.status, 400);
  EXPECT_THAT(retry.body, HasSubstr("\\\"retry_until_up\\\" must be true or false"));
  const HttpResponse source = launch({{"task_yaml", "run: echo hi\n"}, {"source", 5}});
  EXPECT_EQ(source.status, 400);
  EXPECT_THAT(source.body, HasSubstr("must be a string"));
  const HttpResponse typo = launch({{"task_yaml", "run: echo hi\n"}, {"sourse", "t.yaml"}});
  EXPECT_EQ(typo.status, 400);
  EXPECT_THAT(typo.body, HasSubstr("unknown field \\\"sourse\\\" (did you mean 'source'?)"));
  EXPECT_EQ(Send("POST", "/v1/optimize", J{{"task_yaml", "run: x\n"}, {"top", "5"}}.dump()).status,
            400);
  EXPECT_EQ(Send("POST", "/v1/optimize", J{{"task_yaml", "run: x\n"}, {"objective", "fast"}}.dump())
                .status,
            400);
  EXPECT_EQ(Send("GET", "/v1/jobs?limit=0").status, 400);
  EXPECT_EQ(Send("GET", "/v1/jobs?before=x").status, 400);
  EXPECT_TRUE(store_->ListJobs({})->empty());  // nothing was stored for the refused requests
}

TEST_F(HandlersTest, LaunchStoresTheJobAndTheJobObjectFollowsTheContract) {
  const HttpResponse created = Send(
      "POST", "/v1/jobs",
      J{{"task_yaml", "name: hi\nrun: echo hi\n"}, {"source", "hi.yaml"}, {"retry_until_up", true}}
          .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const J job = J::parse(created.body);
  EXPECT_EQ(job["name"], "hi");
  EXPECT_EQ(job["state"], "PENDING");
  EXPECT_EQ(job["source"], "hi.yaml");
  EXPECT_TRUE(store_->GetJob(job["id"].get<int64_t>())->retry_until_up);
  const J got = J::parse(Send("GET", fmt::format("/v1/jobs/{}", job["id"].get<int64_t>())).body);
  for (const char* field : {"id", "name", "state", "exit_code", "placement", "submitted_at",
                            "started_at", "ended_at", "reason", "cancel_requested", "nodes"}) {
    EXPECT_TRUE(got.contains(field)) << field;
  }
  const J list = J::parse(Send("GET", "/v1/jobs?limit=1").body);
  EXPECT_EQ(list["jobs"].size(), 1u);
  EXPECT_EQ(list["next_before"], job["id"]);
  const HttpResponse cancel =
      Send("POST", fmt::format("/v1/jobs/{}/cancel", job["id"].get<int64_t>()));
  EXPECT_EQ(cancel.status, 202);
  EXPECT_TRUE(store_->GetJob(job["id"].get<int64_t>())->cancel_requested);
  const J events =
      J::parse(Send("GET", fmt::format("/v1/jobs/{}/events", job["id"].get<int64_t>())).body);
  EXPECT_EQ(events[0]["type"], "submitted");
}

TEST_F(HandlersTest, AServiceFileIsNotAJob) {
  const HttpResponse r =
      Send("POST", "/v1/jobs",
           J{{"task_yaml", "service: {readiness_probe: /, ports: 80}\nrun: serve\n"},
             {"source", "s.yaml"}}
               .dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("s.yaml: has a `service:` section, so it is a service, not a job"));
  EXPECT_TRUE(store_->ListJobs({10, 0, false})->empty());
}

TEST_F(HandlersTest, EveryRouteIsListedOnce) {
  const std::vector<std::string> routes = router_->List();
  for (const char* r :
       {"GET /v1/health", "GET /v1/server", "POST /v1/jobs", "GET /v1/jobs", "GET /v1/jobs/{id}",
        "GET /v1/jobs/{id}/events", "GET /v1/jobs/{id}/logs", "POST /v1/jobs/{id}/cancel",
        "POST /v1/optimize", "GET /v1/catalog", "GET /v1/providers"}) {
    EXPECT_EQ(std::count(routes.begin(), routes.end(), r), 1) << r;
  }
}

// The job object's codec: what the server writes, the CLI reads back field by field.
// The answers the CLI reads besides jobs — the server's description, a ranking of placements, the
// emulated books and the emulation controls' answers — go through the codecs of api.h both ways.
TEST_F(HandlersTest, ServerOptimizeAndSimAnswersDecodeWithTheSharedCodecs) {
  catalog::LoadReport report;
  auto builtin = catalog::BuiltinCatalog(report);
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  providers::LocalResources machine;
  machine.cpus = 4;
  machine.memory_gib = 16;
  machine.hostname = "testhost";
  auto fleet = providers::ParseFleet(
      "providers:\n  - {name: local, kind: local}\n  - {name: cw, kind: sim, emulates: "
      "coreweave}\n",
      "test.yaml", *builtin, machine);
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  const catalog::Catalog offered = fleet->BuildCatalog();
  ApiContext api{*controller_, *store_, offered,
                 options_,     &*fleet, [] { return std::string("http://127.0.0.1:9"); }};
  const Router router = MakeRouter(api);
  const auto send = [&](const std::string& method, const std::string& target,
                        const std::string& body = "") {
    return router.Dispatch({method, target, body, "Bearer t"},
                           [](const HttpRequest&) { return 0; });
  };

  const HttpResponse info = send("GET", "/v1/server");
  ASSERT_EQ(info.status, 200);
  auto server = DecodeServer(info.body);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->url, "http://127.0.0.1:9");
  EXPECT_EQ(server->pid, getpid());
  EXPECT_EQ(server->home, home_.string());
  EXPECT_EQ(server->cpus, 4);
  EXPECT_FALSE(server->scheduler.has_value());  // arrival order: no fleet scheduler

  const HttpResponse ranked =
      send("POST", "/v1/optimize",
           J{{"task_yaml", "resources: {accelerators: H100:8}\nrun: x\n"}, {"top", 3}}.dump());
  ASSERT_EQ(ranked.status, 200) << ranked.body;
  auto placements = DecodeOptimize(ranked.body);
  ASSERT_TRUE(placements.ok()) << placements.status();
  EXPECT_TRUE(placements->feasible);
  ASSERT_FALSE(placements->candidates.empty());
  EXPECT_LE(placements->candidates.size(), 3u);
  EXPECT_EQ(placements->candidates[0].provider, "cw");
  EXPECT_EQ(placements->candidates[0].accelerator_count, 8);
  EXPECT_GT(placements->candidates[0].hourly_cost, 0);
  const HttpResponse never = send("POST", "/v1/optimize",
                                  J{{"task_yaml", "resources: {accelerators: TPU-v9:8}\n"}}.dump());
  auto none = DecodeOptimize(never.body);
  ASSERT_TRUE(none.ok()) << never.body;
  EXPECT_FALSE(none->feasible);
  EXPECT_TRUE(none->candidates.empty());
  EXPECT_FALSE(none->infeasible_reason.empty());

  auto books = DecodeSimBooks(send("GET", "/v1/sim/books?provider=cw").body);
  ASSERT_TRUE(books.ok()) << books.status();
  ASSERT_FALSE(books->empty());
  for (const SimBookRow& b : *books) {
    EXPECT_EQ(b.provider, "cw");
    EXPECT_EQ(b.used, 0);
    EXPECT_GT(b.capacity, 0);
  }
  const HttpResponse outage =
      send("POST", "/v1/sim/outage", J{{"provider", "cw"}, {"for_seconds", 60}}.dump());
  ASSERT_EQ(outage.status, 202);
  auto answer = DecodeSimAnswer(outage.body);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->provider, "cw");
  EXPECT_GT(answer->until, 0);
  const HttpResponse missing = send("POST", "/v1/sim/preempt", J{{"node", "nope"}}.dump());
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(DecodeErrorMessage(missing.body).value_or(""), HasSubstr("no emulated node 'nope'"));

  EXPECT_THAT(DecodeServer("{}").status().message(), HasSubstr("no \"url\""));
  EXPECT_THAT(DecodeSimBooks("{\"provider\": 1}").status().message(), HasSubstr("not a list"));
  EXPECT_THAT(DecodeOptimize("{\"candidates\": [{\"provider\": 3}]}").status().message(),
              HasSubstr("\"provider\" is not of the expected type"));
}

TEST(ApiCodecTest, JobObjectsRoundTripAndOtherShapesAreClearErrors) {
  store::JobRecord r;
  r.id = 7;
  r.name = "train";
  r.state = store::JobState::kFailed;
  r.exit_code = 3;
  r.provider = "aws";
  r.region = "us-east-1";
  r.instance_type = "p5.48xlarge";
  r.num_nodes = 2;
  r.submitted_at = 1764460800000;
  r.reason = "node 1 exited with code 3";
  r.task_source = "t.yaml";
  auto job = DecodeJob(JobJson(r));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id, 7);
  EXPECT_EQ(job->state, "FAILED");
  EXPECT_EQ(job->exit_code, 3);
  EXPECT_EQ(job->provider, "aws");
  EXPECT_EQ(job->zone, "");
  EXPECT_EQ(job->num_nodes, 2);
  EXPECT_EQ(job->submitted_at, "2025-11-30T00:00:00.000Z");
  EXPECT_EQ(job->started_at, "");
  EXPECT_EQ(job->source, "t.yaml");
  auto list = DecodeJobList("{\"jobs\": [" + JobJson(r) + "], \"next_before\": null}");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 1u);
  EXPECT_THAT(DecodeJob("{\"id\": \"seven\"}").status().message(),
              HasSubstr("not a job object: \"id\" is not of the expected type"));
  EXPECT_THAT(DecodeJob("[1").status().message(), HasSubstr("not a job object"));
  EXPECT_EQ(DecodeErrorMessage("{\"error\": {\"code\": 400, \"message\": \"bad\"}}"), "bad");
  EXPECT_EQ(DecodeErrorMessage("oops"), std::nullopt);
  auto events = DecodeEvents("[{\"time\": \"t\", \"type\": \"state\", \"message\": \"m\"}]");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ((*events)[0].message, "m");
}

}  // namespace
}  // namespace awan::server
