// The disaggregated system as separate processes on loopback: router, prefill nodes and decode
// nodes over real gRPC, prompt K/V over real UCX (tcp). Answers equal `dllm generate`; nodes
// killed with SIGKILL mid-request are routed around; cancelled requests free their K/V; bad
// requests are refused with INVALID_ARGUMENT while the cluster keeps serving.
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/integration/serving_process.h"

namespace dllm {
namespace {

using namespace testing_serve;
using Clock = std::chrono::steady_clock;

std::string ids_of(const std::vector<v1::GenerateResponse>& responses) {
  if (responses.empty() || !responses.back().has_done()) return "<no result>";
  return absl::StrJoin(responses.back().done().ids(), ",");
}

v1::GenerateRequest ids_request(std::vector<int> ids, int gen_length, int block, int steps) {
  v1::GenerateRequest r;
  for (int id : ids) r.mutable_ids()->add_ids(id);
  r.mutable_params()->set_gen_length(gen_length);
  r.mutable_params()->set_block_length(block);
  r.mutable_params()->set_steps(steps);
  return r;
}

// A document long enough for several 16-token chunks of the bundled tokenizer.
const char* kDocument =
    "The red fox lives in the old forest near the river. Every morning the fox walks to the "
    "water and drinks. The blue bird sings on the tall tree while the sun rises over the hills. "
    "In the village the baker opens his shop and the children run to school. The secret number "
    "of the day is seven hundred and twelve, written on the door of the mill.";
const char* kQuestion = "What is the secret number?";

TEST(ClusterTest, DistributedAnswersEqualTheSingleProcessCli) {
  Cluster cluster(1, 1);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  auto stub = cluster.stub();
  {  // dense, ids
    std::vector<v1::GenerateResponse> out;
    const grpc::Status st = generate(*stub, ids_request({1, 5, 9, 20, 33}, 16, 4, 8), &out);
    ASSERT_TRUE(st.ok()) << st.error_message() << cluster.logs();
    ASSERT_EQ(out.size(), 5u);  // 4 blocks + done
    EXPECT_EQ(ids_of(out),
              reference_ids("--prompt-ids 1,5,9,20,33 --gen-length 16 --block-length 4 --steps 8"));
  }
  struct Sparse {
    const char* policy;
    const char* mode;
  };
  for (const Sparse& s : {Sparse{"prefilling", "reuse"}, Sparse{"prefilling", "reprefill"},
                          Sparse{"prefilling+focus", "reuse"}}) {
    v1::GenerateRequest r;
    r.set_text(kQuestion);
    r.set_context(kDocument);
    r.set_policy(s.policy);
    r.mutable_prefilling()->set_chunk_size(16);
    r.mutable_prefilling()->set_top_k(2);
    r.mutable_prefilling()->set_chunk_mode(s.mode);
    r.mutable_params()->set_gen_length(16);
    r.mutable_params()->set_block_length(8);
    r.mutable_params()->set_steps(16);
    std::string flags = std::string("--prompt '") + kQuestion + "' --context '" + kDocument +
                        "' --policy " + s.policy + " --chunk-size 16 --top-k 2 --chunk-mode " +
                        s.mode + " --gen-length 16 --block-length 8 --steps 16";
    if (std::string(s.policy) == "prefilling+focus") {
      r.mutable_focus()->set_kv_budget(32);
      r.mutable_focus()->set_kv_block(8);
      r.mutable_focus()->set_sinks(4);
      flags += " --kv-budget 32 --kv-block 8 --sinks 4";
    }
    std::vector<v1::GenerateResponse> out;
    const grpc::Status st = generate(*stub, r, &out);
    ASSERT_TRUE(st.ok()) << s.policy << " " << s.mode << ": " << st.error_message()
                         << cluster.logs();
    const std::string expected = reference_ids(flags);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(ids_of(out), expected) << s.policy << " " << s.mode;
  }
  {  // focus over the whole prompt
    v1::GenerateRequest r = ids_request({1, 5, 9, 20, 33, 40, 41, 42, 43, 44, 45, 46}, 16, 8, 16);
    r.set_policy("focus");
    r.mutable_focus()->set_kv_budget(8);
    r.mutable_focus()->set_kv_block(4);
    r.mutable_focus()->set_sinks(2);
    std::vector<v1::GenerateResponse> out;
    ASSERT_TRUE(generate(*stub, r, &out).ok()) << cluster.logs();
    EXPECT_EQ(ids_of(out), reference_ids("--prompt-ids 1,5,9,20,33,40,41,42,43,44,45,46 "
                                         "--gen-length 16 --block-length 8 --steps 16 --policy "
                                         "focus --kv-budget 8 --kv-block 4 --sinks 2"));
  }
  // Every lease was released once its K/V was pulled.
  EXPECT_EQ(node_load(cluster.node("prefill-0").address(), true).held_leases(), 0);
}

TEST(ClusterTest, FiftyConcurrentStreamsOnTwoPrefillAndTwoDecodeNodesAllComplete) {
  Cluster cluster(2, 2);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  constexpr int kPrompts = 5, kRequests = 50;
  std::vector<std::string> expected(kPrompts);
  for (int p = 0; p < kPrompts; ++p)
    expected[p] = reference_ids("--prompt-ids 3," + std::to_string(10 + p) +
                                ",7 --gen-length 16 --block-length 8 --steps 8");
  std::vector<std::future<std::string>> answers;
  for (int i = 0; i < kRequests; ++i)
    answers.push_back(std::async(std::launch::async, [&, i] {
      auto stub = cluster.stub();
      std::vector<v1::GenerateResponse> out;
      const grpc::Status st =
          generate(*stub, ids_request({3, 10 + i % kPrompts, 7}, 16, 8, 8), &out);
      if (!st.ok()) return "error: " + st.error_message();
      if (out.size() != 3u) return std::string("wrong number of messages");
      return ids_of(out);
    }));
  for (int i = 0; i < kRequests; ++i)
    EXPECT_EQ(answers[i].get(), expected[i % kPrompts]) << "request " << i;
  // Both decode nodes took part.
  EXPECT_GT(node_load(cluster.node("decode-0").address(), false).completed(), 0);
  EXPECT_GT(node_load(cluster.node("decode-1").address(), false).completed(), 0);
}

// A request long enough to be killed in the middle of.
v1::GenerateRequest long_request() { return ids_request({4, 8, 15, 16, 23, 42}, 256, 32, 256); }
// One that is never awaited to its end (cancelled): long enough to be mid-way at any check.
// A prefix block cache, so that it holds K/V pages while it runs.
v1::GenerateRequest endless_request() {
  v1::GenerateRequest r = ids_request({4, 8, 15, 16, 23, 42}, 1024, 4, 1024);
  r.mutable_params()->set_cache(v1::CACHE_MODE_PREFIX);
  return r;
}
const char* kLongFlags = "--prompt-ids 4,8,15,16,23,42 --gen-length 256 --block-length 32 --steps 256";

TEST(ClusterTest, KillingTheDecodeNodeMidRequestStillCompletesTheRequest) {
  Cluster cluster(1, 2);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  const std::string expected = reference_ids(kLongFlags);
  auto stub = cluster.stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->Generate(&ctx, long_request());
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first)) << cluster.logs();
  ASSERT_TRUE(first.has_block());
  // The node working on it: the one with a running request.
  std::string victim;
  for (const char* id : {"decode-0", "decode-1"})
    if (node_load(cluster.node(id).address(), false).running() > 0) victim = id;
  ASSERT_FALSE(victim.empty()) << "the request finished before the kill; make it longer";
  cluster.node(victim).kill_hard();
  std::vector<v1::GenerateResponse> rest = {first};
  v1::GenerateResponse r;
  while (reader->Read(&r)) rest.push_back(r);
  const grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message() << cluster.logs();
  // Every block once, in order, and the same answer as an undisturbed run.
  std::vector<int> indices;
  for (const auto& m : rest)
    if (m.has_block()) indices.push_back(m.block().index());
  std::vector<int> want(256 / 32);
  for (int b = 0; b < 256 / 32; ++b) want[b] = b;
  EXPECT_EQ(indices, want);
  EXPECT_EQ(ids_of(rest), expected);
  // The second decode node resumed after the blocks already streamed: it ran fewer forwards
  // than the whole request needs (one per step, 256 steps).
  EXPECT_LT(rest.back().done().usage().forward_passes(), 256);
}

TEST(ClusterTest, KillingAPrefillNodeStillCompletesRequests) {
  Cluster cluster(2, 1);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  const std::string expected =
      reference_ids("--prompt-ids 2,4,6 --gen-length 16 --block-length 8 --steps 8");
  cluster.node("prefill-0").kill_hard();
  // Before the router has missed a heartbeat, half of the placements pick the dead node; each
  // must be re-placed on the live one.
  auto stub = cluster.stub();
  for (int i = 0; i < 6; ++i) {
    std::vector<v1::GenerateResponse> out;
    const grpc::Status st = generate(*stub, ids_request({2, 4, 6}, 16, 8, 8), &out);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message() << cluster.logs();
    EXPECT_EQ(ids_of(out), expected);
  }
}

TEST(ClusterTest, DeadNodesLeavePlacementWithinTwoSeconds) {
  Cluster cluster(1, 1);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  cluster.node("decode-0").kill_hard();
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  auto stub = cluster.stub();
  std::vector<v1::GenerateResponse> out;
  const auto t0 = Clock::now();
  const grpc::Status st = generate(*stub, ids_request({2, 4, 6}, 16, 8, 8), &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("no live decode node"), std::string::npos)
      << st.error_message();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));  // no placement on the dead node
}

TEST(ClusterTest, AClientThatDisconnectsFreesItsKvOnBothNodes) {
  Cluster cluster(1, 1);
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  const std::string decode = cluster.node("decode-0").address();
  const std::string prefill = cluster.node("prefill-0").address();
  const int64_t baseline = node_load(decode, false).kv_pages_used();
  auto stub = cluster.stub();
  {
    grpc::ClientContext ctx;
    auto reader = stub->Generate(&ctx, endless_request());
    v1::GenerateResponse first;
    ASSERT_TRUE(reader->Read(&first)) << cluster.logs();
    EXPECT_GT(node_load(decode, false).kv_pages_used(), baseline);  // mid-request
    ctx.TryCancel();
    reader->Finish();
  }
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  v1::NodeLoad d, p;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    d = node_load(decode, false);
    p = node_load(prefill, true);
  } while (Clock::now() < deadline &&
           (d.running() != 0 || d.kv_pages_used() != baseline || p.held_leases() != 0));
  EXPECT_EQ(d.running(), 0);
  EXPECT_EQ(d.kv_pages_used(), baseline);
  EXPECT_EQ(p.held_leases(), 0);
  EXPECT_EQ(d.completed(), 0);  // it was stopped, not finished
}

TEST(ClusterTest, MalformedRequestsGetInvalidArgumentAndTheClusterKeepsServing) {
  Cluster cluster(1, 1, {"--max-gen-length", "256", "--max-request-bytes", "65536"});
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  auto stub = cluster.stub();
  std::vector<std::pair<std::string, v1::GenerateRequest>> cases;
  {
    v1::GenerateRequest r;
    r.set_text("");
    cases.push_back({"empty prompt", r});
  }
  cases.push_back({"id out of range", ids_request({1, 999999}, 16, 8, 8)});
  cases.push_back({"negative id", ids_request({-4}, 16, 8, 8)});
  cases.push_back({"gen_length 0", ids_request({1}, 0, 8, 8)});
  cases.push_back({"gen_length 1e9", ids_request({1}, 1000000000, 8, 8)});
  {
    v1::GenerateRequest r = ids_request({1, 2}, 16, 8, 8);
    r.set_policy("sparsest");
    cases.push_back({"unknown policy", r});
  }
  {
    v1::GenerateRequest r;
    r.set_text(std::string(200000, 'a'));
    cases.push_back({"oversized message", r});
  }
  {
    v1::GenerateRequest r = ids_request({1, 2}, 16, 8, 8);
    r.set_policy("prefilling");
    cases.push_back({"prefilling without a context", r});
  }
  for (const auto& [what, request] : cases) {
    std::vector<v1::GenerateResponse> out;
    const grpc::Status st = generate(*stub, request, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << what << ": "
                                                                   << st.error_message();
    EXPECT_FALSE(st.error_message().empty()) << what;
    EXPECT_TRUE(out.empty()) << what;
  }
  std::vector<v1::GenerateResponse> out;
  EXPECT_TRUE(generate(*stub, ids_request({1, 2}, 16, 8, 8), &out).ok()) << cluster.logs();
}

TEST(ClusterTest, TheRouterRefusesWorkBeyondItsInflightLimit) {
  Cluster cluster(1, 1, {"--max-inflight", "1", "--max-gen-length", "4096"});
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  auto stub = cluster.stub();
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, endless_request());
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  std::vector<v1::GenerateResponse> out;
  const grpc::Status st = generate(*stub, ids_request({1, 2}, 16, 8, 8), &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  ctx.TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace dllm

namespace dllm {
namespace {

using namespace testing_serve;

// K/V pulls that drop (the transport's fault hook on the decode node) are prepared again: every
// reuse-mode request completes with the undisturbed answer.
TEST(ClusterFaultTest, DroppedKvTransfersAreRetriedToTheSameAnswer) {
  // Each of the 2 layers' pulls drops with p = 0.1: 19 % of attempts fail; 16 attempts make a
  // request that never gets through (0.19^16) impossible in practice.
  Cluster cluster(1, 1, {"--max-attempts", "16"}, {"--fault-drop-probability", "0.1"});
  ASSERT_TRUE(cluster.ok()) << cluster.logs();
  const std::string doc =
      "The red fox lives in the old forest near the river. Every morning the fox walks to the "
      "water and drinks. The blue bird sings on the tall tree while the sun rises.";
  const std::string expected = reference_ids(
      "--prompt 'Who drinks?' --context '" + doc +
      "' --policy prefilling --chunk-size 16 --top-k 2 --chunk-mode reuse --gen-length 8 "
      "--block-length 8");
  ASSERT_FALSE(expected.empty());
  auto stub = cluster.stub();
  for (int i = 0; i < 6; ++i) {
    v1::GenerateRequest r;
    r.set_text("Who drinks?");
    r.set_context(doc);
    r.set_policy("prefilling");
    r.mutable_prefilling()->set_chunk_size(16);
    r.mutable_prefilling()->set_top_k(2);
    r.mutable_prefilling()->set_chunk_mode("reuse");
    r.mutable_params()->set_gen_length(8);
    r.mutable_params()->set_block_length(8);
    std::vector<v1::GenerateResponse> out;
    const grpc::Status st = generate(*stub, r, &out);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message() << cluster.logs();
    EXPECT_EQ(absl::StrJoin(out.back().done().ids(), ","), expected);
  }
}

}  // namespace
}  // namespace dllm
