// Reads samples out of a Prometheus text-format page (what /metrics serves), for tests.
#pragma once

#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dllm::testing {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The non-empty pieces of `text` between `sep`s.
inline std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> pieces;
  while (!text.empty()) {
    const size_t at = text.find(sep);
    if (at != 0) pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return pieces;
}

// One sample line ("name{k=\"v\",...} value"); nullopt for comments and blank lines. Label
// values with escaped quotes are not needed here and not supported.
inline std::optional<MetricSample> parse_sample_line(std::string_view line) {
  if (line.empty() || line.front() == '#') return std::nullopt;
  MetricSample s;
  const size_t brace = line.find('{');
  const size_t space = line.find(' ');
  std::string_view rest;
  if (brace != std::string_view::npos && brace < space) {
    s.name = std::string(line.substr(0, brace));
    const size_t close = line.find('}', brace);
    if (close == std::string_view::npos) return std::nullopt;
    for (std::string_view pair : split(line.substr(brace + 1, close - brace - 1), ',')) {
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.size() < eq + 3) return std::nullopt;
      s.labels[std::string(pair.substr(0, eq))] =
          std::string(pair.substr(eq + 2, pair.size() - eq - 3));
    }
    rest = line.substr(close + 1);
  } else {
    if (space == std::string_view::npos) return std::nullopt;
    s.name = std::string(line.substr(0, space));
    rest = line.substr(space);
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  rest = rest.substr(0, rest.find(' '));  // drop a timestamp, if any
  if (rest == "+Inf") {
    s.value = std::numeric_limits<double>::infinity();
  } else {
    const std::string number(rest);
    char* end = nullptr;
    s.value = std::strtod(number.c_str(), &end);
    if (number.empty() || end != number.c_str() + number.size()) return std::nullopt;
  }
  return s;
}

// The value of the first sample named `name` whose labels include all of `labels`.
inline std::optional<double> find_sample(std::string_view page, std::string_view name,
                                         const std::map<std::string, std::string>& labels) {
  for (std::string_view line : split(page, '\n')) {
    std::optional<MetricSample> s = parse_sample_line(line);
    if (!s || s->name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s->labels.find(k);
      if (it == s->labels.end() || it->second != v) match = false;
    }
    if (match) return s->value;
  }
  return std::nullopt;
}

}  // namespace dllm::testing
