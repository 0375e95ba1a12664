// Long-context task samples (tools/data/gen_tasks.py JSONL), their prompt, answer scoring and
// the accuracy table of `dllm eval`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dllm::eval {

// The tasks gen_tasks.py writes, in table order.
inline constexpr const char* kTaskNames[] = {"passkey", "kv", "vt", "mdqa"};

// One JSONL record: {task, ctx, depth, seed, context, question, answer, answer_prefix}.
struct TaskSample {
  std::string task;
  int ctx = 0;
  double depth = 0.0;
  int64_t seed = 0;
  std::string context;
  std::string question;
  std::string answer;
  std::string answer_prefix;  // start of the assistant turn, e.g. "The pass key is" (optional)
};

// One record per non-empty line; InvalidArgument naming the line for bad JSON or a missing or
// mistyped field.
absl::StatusOr<std::vector<TaskSample>> parse_task_jsonl(absl::string_view text);

// The user turn the model was trained on: context + "\n\nQuestion: " + question. The LLaDA chat
// template (ChatTemplateKind::kLladaInstruct) wraps it, the answer prefix follows the assistant
// header, and the model answers " " + answer, then <|endoftext|>.
std::string user_content(const TaskSample& sample);

// Exact match after trimming ASCII whitespace on both sides.
bool answer_matches(absl::string_view generated, absl::string_view answer);

// "all" -> 0, 0.25, 0.5, 0.75, 1; otherwise comma-separated values in [0, 1].
absl::StatusOr<std::vector<double>> parse_depths(absl::string_view spec);
// Comma-separated positive integers ("1024,4096").
absl::StatusOr<std::vector<int>> parse_lengths(absl::string_view spec);
// "all" -> every task; otherwise comma-separated names of kTaskNames.
absl::StatusOr<std::vector<std::string>> parse_tasks(absl::string_view spec);

// Accuracy of one (task, ctx, depth) cell.
struct EvalCell {
  std::string task;
  int ctx = 0;
  double depth = 0.0;
  int samples = 0;
  int correct = 0;
  double seconds = 0.0;  // wall time of the cell's generations
  double accuracy() const { return samples > 0 ? static_cast<double>(correct) / samples : 0.0; }
};

// Fixed-width table: task, ctx, depth, samples, accuracy, seconds per sample.
std::string format_table(const std::vector<EvalCell>& cells, absl::string_view policy);
// CSV with a header: policy,task,ctx,depth,samples,correct,accuracy,seconds_per_sample.
std::string format_csv(const std::vector<EvalCell>& cells, absl::string_view policy);
// Correct answers over all samples of all cells.
double overall_accuracy(const std::vector<EvalCell>& cells);

}  // namespace dllm::eval
