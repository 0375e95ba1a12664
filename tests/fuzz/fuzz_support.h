// Shared by the fuzz targets: an invariant check that crashes (so libFuzzer records the input)
// and the bundled files the targets load once at start-up.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

// An invariant of the parser under test; a violation is a finding like a sanitizer report.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace dllm::fuzz {

// A path inside the repository (the build bakes in its root).
inline std::string source_path(std::string_view relative) {
  return std::string(DLLM_SOURCE_DIR) + "/" + std::string(relative);
}

// The bundled stand-in model: config.json and tokenizer.json (no weights are read).
inline std::string llada_tiny_dir() { return source_path("models/llada-tiny"); }

// A setup file the target cannot run without; missing is a hard error, not a finding.
inline std::string read_setup_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz setup: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Setup failures are not findings: say what is wrong and stop.
[[noreturn]] inline void setup_failed(std::string_view what) {
  std::fprintf(stderr, "fuzz setup: %.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(2);
}

}  // namespace dllm::fuzz
