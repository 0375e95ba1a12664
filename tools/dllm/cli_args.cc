// CliArgs implementation.
#include "tools/dllm/cli_args.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace dllm::cli {
namespace {

const OptionSpec* find_spec(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (s.name == name) return &s;
  return nullptr;
}

absl::Status load_config_file(const std::string& path, const std::vector<OptionSpec>& specs,
                              std::map<std::string, std::string>* values) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const OptionSpec* spec = find_spec(specs, it.key());
    if (spec == nullptr || spec->name == "config")
      return absl::InvalidArgumentError(absl::StrCat(path, ": unknown option '", it.key(), "'"));
    if (it->is_string()) {
      (*values)[it.key()] = it->get<std::string>();
    } else if (it->is_boolean()) {
      if (it->get<bool>()) (*values)[it.key()] = "true";
    } else if (it->is_number() || it->is_array()) {
      std::string v = it->dump();
      if (it->is_array()) v = v.substr(1, v.size() - 2);  // [1,2,3] → 1,2,3
      (*values)[it.key()] = v;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bad value for '", it.key(), "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CliArgs> CliArgs::parse(int argc, char** argv, int first,
                                       const std::vector<OptionSpec>& specs) {
  CliArgs args;
  std::map<std::string, std::string> cli;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0)
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    std::string name = arg.substr(2), value;
    bool has_inline = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const OptionSpec* spec = find_spec(specs, name);
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    if (spec->takes_value && !has_inline) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = argv[++i];
    } else if (!spec->takes_value) {
      if (has_inline && value != "true" && value != "false")
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      if (!has_inline) value = "true";
    }
    cli[name] = value;
  }
  if (auto it = cli.find("config"); it != cli.end()) {
    if (absl::Status st = load_config_file(it->second, specs, &args.values_); !st.ok()) return st;
  }
  for (auto& [k, v] : cli) args.values_[k] = v;
  return args;
}

std::string CliArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int> CliArgs::get_int(const std::string& name, int fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", s, "' is not an integer"));
  return v;
}

absl::StatusOr<double> CliArgs::get_double(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (...) {
  }
  return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", it->second, "' is not a number"));
}

bool CliArgs::flag(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && it->second != "false";
}

std::string usage(const std::string& command, const std::vector<OptionSpec>& specs) {
  std::string out = absl::StrCat("usage: dllm ", command, " [options]\n");
  for (const auto& s : specs)
    absl::StrAppend(&out, "  --", s.name, s.takes_value ? " VALUE" : "", "\n      ", s.help, "\n");
  return out;
}

absl::StatusOr<std::vector<int32_t>> parse_id_list(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 0 ||
        v > INT32_MAX)
      return absl::InvalidArgumentError(absl::StrCat("bad token id '", part, "' in id list"));
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) return absl::InvalidArgumentError("empty id list");
  return ids;
}

}  // namespace dllm::cli
