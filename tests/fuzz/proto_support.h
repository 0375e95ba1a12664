// For the protobuf targets: parse failures are expected by the thousand, so protobuf's error log
// (invalid UTF-8 in a string field, ...) is silenced once.
#pragma once

#include <google/protobuf/stubs/logging.h>

namespace dllm::fuzz {

inline void silence_protobuf_log() {
  static const bool once = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)once;
}

}  // namespace dllm::fuzz
