// Task samples, scoring and the accuracy table of `dllm eval`.
#include "common/eval/eval_tasks.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace dllm::eval {
namespace {

using Json = nlohmann::json;

absl::Status field_error(size_t line, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("task JSONL line ", line, ": field '", field, "' ", what));
}

}  // namespace

absl::StatusOr<std::vector<TaskSample>> parse_task_jsonl(absl::string_view text) {
  std::vector<TaskSample> out;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("task JSONL line ", line_no, ": invalid JSON: ", e.what()));
    }
    if (!j.is_object()) return field_error(line_no, "(record)", "is not an object");
    TaskSample s;
    for (auto [name, dest] : {std::pair<const char*, std::string*>{"task", &s.task},
                              {"context", &s.context},
                              {"question", &s.question},
                              {"answer", &s.answer}}) {
      auto it = j.find(name);
      if (it == j.end() || !it->is_string()) return field_error(line_no, name, "must be a string");
      *dest = it->get<std::string>();
    }
    if (auto it = j.find("answer_prefix"); it != j.end()) {
      if (!it->is_string()) return field_error(line_no, "answer_prefix", "must be a string");
      s.answer_prefix = it->get<std::string>();
    }
    auto ctx = j.find("ctx");
    auto depth = j.find("depth");
    auto seed = j.find("seed");
    if (ctx == j.end() || !ctx->is_number_integer())
      return field_error(line_no, "ctx", "must be an integer");
    if (depth == j.end() || !depth->is_number())
      return field_error(line_no, "depth", "must be a number");
    if (seed == j.end() || !seed->is_number_integer())
      return field_error(line_no, "seed", "must be an integer");
    s.ctx = ctx->get<int>();
    s.depth = depth->get<double>();
    s.seed = seed->get<int64_t>();
    out.push_back(std::move(s));
  }
  return out;
}

std::string user_content(const TaskSample& sample) {
  return absl::StrCat(sample.context, "\n\nQuestion: ", sample.question);
}

bool answer_matches(absl::string_view generated, absl::string_view answer) {
  return absl::StripAsciiWhitespace(generated) == absl::StripAsciiWhitespace(answer);
}

absl::StatusOr<std::vector<double>> parse_depths(absl::string_view spec) {
  if (spec == "all") return std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0};
  std::vector<double> out;
  for (absl::string_view item : absl::StrSplit(spec, ',')) {
    double d = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(item), &d) || !(d >= 0.0 && d <= 1.0))
      return absl::InvalidArgumentError(
          absl::StrCat("--depth wants 'all' or values in [0, 1], got '", item, "'"));
    out.push_back(d);
  }
  return out;
}

absl::StatusOr<std::vector<int>> parse_lengths(absl::string_view spec) {
  std::vector<int> out;
  for (absl::string_view item : absl::StrSplit(spec, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &n) || n <= 0)
      return absl::InvalidArgumentError(
          absl::StrCat("--ctx wants positive token counts, got '", item, "'"));
    out.push_back(n);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> parse_tasks(absl::string_view spec) {
  std::vector<std::string> out;
  if (spec == "all") {
    for (const char* name : kTaskNames) out.emplace_back(name);
    return out;
  }
  for (absl::string_view item : absl::StrSplit(spec, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (std::find(std::begin(kTaskNames), std::end(kTaskNames), item) == std::end(kTaskNames))
      return absl::InvalidArgumentError(absl::StrCat(
          "--task wants passkey, kv, vt, mdqa (comma-separated) or all, got '", item, "'"));
    out.emplace_back(item);
  }
  return out;
}

std::string format_table(const std::vector<EvalCell>& cells, absl::string_view policy) {
  std::string out = absl::StrFormat("%-8s %-8s %7s %6s %8s %9s %10s\n", "policy", "task", "ctx",
                                    "depth", "samples", "accuracy", "s/sample");
  for (const EvalCell& c : cells) {
    absl::StrAppendFormat(&out, "%-8s %-8s %7d %6.2f %8d %9.3f %10.2f\n", policy, c.task, c.ctx,
                          c.depth, c.samples, c.accuracy(),
                          c.samples > 0 ? c.seconds / c.samples : 0.0);
  }
  return out;
}

std::string format_csv(const std::vector<EvalCell>& cells, absl::string_view policy) {
  std::string out = "policy,task,ctx,depth,samples,correct,accuracy,seconds_per_sample\n";
  for (const EvalCell& c : cells) {
    absl::StrAppendFormat(&out, "%s,%s,%d,%g,%d,%d,%.4f,%.3f\n", policy, c.task, c.ctx, c.depth,
                          c.samples, c.correct, c.accuracy(),
                          c.samples > 0 ? c.seconds / c.samples : 0.0);
  }
  return out;
}

double overall_accuracy(const std::vector<EvalCell>& cells) {
  int samples = 0, correct = 0;
  for (const EvalCell& c : cells) {
    samples += c.samples;
    correct += c.correct;
  }
  return samples > 0 ? static_cast<double>(correct) / samples : 0.0;
}

}  // namespace dllm::eval
