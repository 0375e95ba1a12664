// Tests of the `dllm eval` helpers: task JSONL parsing, scoring, depth/ctx/task lists, tables.
#include "common/eval/eval_tasks.h"

#include <gtest/gtest.h>

namespace dllm::eval {
namespace {

constexpr const char* kRecord =
    R"({"task": "passkey", "ctx": 1024, "depth": 0.25, "seed": 1000000003,)"
    R"( "context": "Filler. The pass key is 12345.", "question": "What is the pass key?",)"
    R"( "answer": "12345", "answer_prefix": "The pass key is"})";

TEST(EvalTasksTest, ParsesJsonlRecords) {
  const std::string text = std::string(kRecord) + "\n\n" + kRecord + "\n";
  absl::StatusOr<std::vector<TaskSample>> samples = parse_task_jsonl(text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 2u);
  const TaskSample& s = (*samples)[0];
  EXPECT_EQ(s.task, "passkey");
  EXPECT_EQ(s.ctx, 1024);
  EXPECT_DOUBLE_EQ(s.depth, 0.25);
  EXPECT_EQ(s.seed, 1000000003);
  EXPECT_EQ(s.answer, "12345");
  EXPECT_EQ(s.answer_prefix, "The pass key is");
  EXPECT_EQ(user_content(s), "Filler. The pass key is 12345.\n\nQuestion: What is the pass key?");
}

TEST(EvalTasksTest, RejectsBadRecordsNamingTheLine) {
  absl::StatusOr<std::vector<TaskSample>> bad_json = parse_task_jsonl("{\"task\": ");
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_json.status().message().find("line 1"), absl::string_view::npos);

  const std::string missing = std::string(kRecord) + "\n" +
                              R"({"task": "kv", "ctx": 1, "depth": 0, "seed": 0, "context": "c",)"
                              R"( "question": "q"})";
  absl::StatusOr<std::vector<TaskSample>> no_answer = parse_task_jsonl(missing);
  EXPECT_EQ(no_answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_answer.status().message().find("line 2"), absl::string_view::npos);
  EXPECT_NE(no_answer.status().message().find("answer"), absl::string_view::npos);

  absl::StatusOr<std::vector<TaskSample>> float_ctx = parse_task_jsonl(
      R"({"task": "kv", "ctx": 1.5, "depth": 0, "seed": 0, "context": "c", "question": "q",)"
      R"( "answer": "a"})");
  EXPECT_EQ(float_ctx.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EvalTasksTest, ScoresExactMatchAfterTrimming) {
  EXPECT_TRUE(answer_matches(" 12345\n", "12345"));
  EXPECT_TRUE(answer_matches("ABC DEF", "ABC DEF"));
  EXPECT_FALSE(answer_matches("12345.", "12345"));
  EXPECT_FALSE(answer_matches("1234", "12345"));
  EXPECT_FALSE(answer_matches("abc def", "ABC DEF"));
  EXPECT_FALSE(answer_matches("", "12345"));
}

TEST(EvalTasksTest, ParsesDepthLengthAndTaskLists) {
  absl::StatusOr<std::vector<double>> all = parse_depths("all");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0}));
  absl::StatusOr<std::vector<double>> some = parse_depths("0, 0.5,1");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, (std::vector<double>{0.0, 0.5, 1.0}));
  EXPECT_FALSE(parse_depths("1.5").ok());
  EXPECT_FALSE(parse_depths("x").ok());

  absl::StatusOr<std::vector<int>> lengths = parse_lengths("1024,4096");
  ASSERT_TRUE(lengths.ok());
  EXPECT_EQ(*lengths, (std::vector<int>{1024, 4096}));
  EXPECT_FALSE(parse_lengths("0").ok());
  EXPECT_FALSE(parse_lengths("4k").ok());

  absl::StatusOr<std::vector<std::string>> tasks = parse_tasks("all");
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(*tasks, (std::vector<std::string>{"passkey", "kv", "vt", "mdqa"}));
  absl::StatusOr<std::vector<std::string>> two = parse_tasks("kv,passkey");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<std::string>{"kv", "passkey"}));
  EXPECT_EQ(parse_tasks("niah").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EvalTasksTest, FormatsTableAndCsv) {
  const std::vector<EvalCell> cells = {{"passkey", 1024, 0.5, 4, 3, 2.0},
                                       {"kv", 4096, 1.0, 2, 0, 1.0}};
  EXPECT_DOUBLE_EQ(cells[0].accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(overall_accuracy(cells), 0.5);
  EXPECT_DOUBLE_EQ(overall_accuracy({}), 0.0);
  const std::string csv = format_csv(cells, "dense");
  EXPECT_EQ(csv,
            "policy,task,ctx,depth,samples,correct,accuracy,seconds_per_sample\n"
            "dense,passkey,1024,0.5,4,3,0.7500,0.500\n"
            "dense,kv,4096,1,2,0,0.0000,0.500\n");
  const std::string table = format_table(cells, "dense");
  EXPECT_NE(table.find("passkey"), std::string::npos);
  EXPECT_NE(table.find("0.750"), std::string::npos);
}

}  // namespace
}  // namespace dllm::eval
