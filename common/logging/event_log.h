// Structured logs: one line per event, `key=value` fields after a timestamp, the level, and the
// process's role and node (spdlog underneath). Request ids go in every request's events so a
// request can be followed across router, prefill and decode logs. Never log secrets.
#pragma once

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"

namespace dllm::logging {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

// "debug" | "info" | "warn" | "error" | "off".
absl::Status parse_level(std::string_view name, Level* level);

// Once per process, before serving: the role and node stamped on every line, the lowest level
// written. Lines go to stderr (or to `sink`, for tests).
void init(std::string_view role, std::string_view node, Level level,
          std::ostream* sink = nullptr);

struct Field {
  std::string_view key;
  std::string value;
};
inline Field field(std::string_view key, std::string_view v) { return {key, std::string(v)}; }
inline Field field(std::string_view key, const char* v) { return {key, std::string(v)}; }
inline Field field(std::string_view key, const std::string& v) { return {key, v}; }
template <typename T>
  requires std::is_arithmetic_v<T>
Field field(std::string_view key, T v) {
  return {key, std::to_string(v)};
}

// `event=NAME key=value ...`; a value with spaces, quotes or '=' is written quoted.
void event(Level level, std::string_view name, std::initializer_list<Field> fields);

}  // namespace dllm::logging
