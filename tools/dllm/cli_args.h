// CliArgs: `--name value` / `--name=value` / boolean `--flag` parsing against a declared option
// list, with a `--config FILE.json` mirror (keys are option names without dashes).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dllm::cli {

struct OptionSpec {
  std::string name;  // without leading dashes
  bool takes_value = true;
  std::string help;
};

class CliArgs {
 public:
  // Parses argv[first..argc). Flags on the command line override the config file.
  static absl::StatusOr<CliArgs> parse(int argc, char** argv, int first,
                                       const std::vector<OptionSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  absl::StatusOr<int> get_int(const std::string& name, int fallback) const;
  absl::StatusOr<double> get_double(const std::string& name, double fallback) const;
  bool flag(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

std::string usage(const std::string& command, const std::vector<OptionSpec>& specs);
// Parses "1,2,3" into ids; empty or malformed → InvalidArgument.
absl::StatusOr<std::vector<int32_t>> parse_id_list(const std::string& text);

}  // namespace dllm::cli
