#include "common/logging/event_log.h"

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace dllm::logging {
namespace {

struct State {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  std::string prefix = "role=dllm node=-";
};

State& state() {
  static State* s = new State();  // never destroyed: logging works during static teardown
  return *s;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      break;
  }
  return spdlog::level::off;
}

std::shared_ptr<spdlog::logger> make_logger(std::ostream* sink) {
  std::shared_ptr<spdlog::sinks::sink> s;
  if (sink != nullptr) s = std::make_shared<spdlog::sinks::ostream_sink_mt>(*sink, true);
  else s = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("dllm", s);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e level=%l %v");
  return logger;
}

void append_value(std::string* out, std::string_view v) {
  const bool plain = !v.empty() && v.find_first_of(" \t\n\"=") == std::string_view::npos;
  if (plain) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c == '\n' ? ' ' : c);
  }
  out->push_back('"');
}

}  // namespace

absl::Status parse_level(std::string_view name, Level* level) {
  if (name == "debug") *level = Level::kDebug;
  else if (name == "info") *level = Level::kInfo;
  else if (name == "warn") *level = Level::kWarn;
  else if (name == "error") *level = Level::kError;
  else if (name == "off") *level = Level::kOff;
  else
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level must be debug, info, warn, error or off, got '",
                     std::string(name), "'"));
  return absl::OkStatus();
}

void init(std::string_view role, std::string_view node, Level level, std::ostream* sink) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.logger = make_logger(sink);
  s.logger->set_level(to_spdlog(level));
  s.prefix = absl::StrCat("role=", std::string(role), " node=", std::string(node));
}

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  State& s = state();
  std::shared_ptr<spdlog::logger> logger;
  std::string line;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.logger == nullptr) {
      s.logger = make_logger(nullptr);
      s.logger->set_level(spdlog::level::info);
    }
    logger = s.logger;
    line = s.prefix;
  }
  if (!logger->should_log(to_spdlog(level))) return;
  absl::StrAppend(&line, " event=", std::string(name));
  for (const Field& f : fields) {
    absl::StrAppend(&line, " ", std::string(f.key), "=");
    append_value(&line, f.value);
  }
  logger->log(to_spdlog(level), "{}", line);
}

}  // namespace dllm::logging
