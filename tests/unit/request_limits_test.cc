// Bounds a request's work must stay within, at the router (public limits) and at the nodes
// (spec_from_wire: the engine's structural limits). Regressions of tests/fuzz findings.
#include <gtest/gtest.h>

#include <string>

#include "common/model/model_config.h"
#include "common/pipeline/engine_request.h"
#include "proto/wire/engine_request_wire.h"
#include "router/request_validation.h"

namespace dllm {
namespace {

ModelConfig llada_tiny() {
  absl::StatusOr<ModelConfig> c =
      load_model_config(std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

v1::EngineRequest one_token_request(int gen_length, int steps) {
  v1::EngineRequest r;
  r.add_query(1);
  r.mutable_params()->set_gen_length(gen_length);
  r.mutable_params()->set_block_length(0);
  r.mutable_params()->set_steps(steps);
  return r;
}

// A node used to accept gen_length 2^31 - 1: prompt + gen_length then overflowed int when the
// decode node sized the sequence, and steps sized a schedule of gigabytes.
TEST(RequestLimits, NodeRefusesSequencesPastTheEngineLimit) {
  const ModelConfig config = llada_tiny();
  absl::StatusOr<EngineRequestSpec> huge =
      wire::spec_from_wire(one_token_request(2147483647, 2147483647), config);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("exceeds the engine's limit"), std::string::npos)
      << huge.status();
  const int longest = static_cast<int>(kMaxSequenceTokens) - 1;  // + the one prompt token
  EXPECT_TRUE(wire::spec_from_wire(one_token_request(longest, longest), config).ok());
  EXPECT_FALSE(wire::spec_from_wire(one_token_request(longest + 1, longest + 1), config).ok());
  // Steps are bounded on their own: one block of 8 tokens in 2^21 steps.
  absl::StatusOr<EngineRequestSpec> steps =
      wire::spec_from_wire(one_token_request(8, 1 << 21), config);
  ASSERT_FALSE(steps.ok());
  EXPECT_NE(steps.status().message().find("steps 2097152"), std::string::npos) << steps.status();
}

// The router bounded gen_length but not steps, a forward pass each.
TEST(RequestLimits, RouterBoundsSteps) {
  router::ServingLimits limits;
  limits.max_gen_length = 256;
  v1::GenerateRequest r;
  r.set_text("hello");
  r.mutable_params()->set_steps(256);
  EXPECT_TRUE(router::validate_generate_request(r, limits).ok());
  r.mutable_params()->set_steps(1 << 20);
  const absl::Status s = router::validate_generate_request(r, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "steps must be in [1, 256], got 1048576");
  r.mutable_params()->set_steps(0);
  EXPECT_EQ(router::validate_generate_request(r, limits).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dllm
