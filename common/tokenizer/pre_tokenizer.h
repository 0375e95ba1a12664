// Pre-tokenization: HF `Split` (regex, via PCRE2) and `ByteLevel` steps that cut text into words.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dllm::tokenizer_internal {

// The regexes HF tokenizer.json files use (Oniguruma syntax, which PCRE2 reads the same
// once \s and \S are rewritten; see rewrite_oniguruma_pattern).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Oniguruma's \s is Unicode White_Space; PCRE2's \s (UCP) also takes U+180E. Rewriting
// \s and \S to \p{White_Space} and \P{White_Space} makes the two engines agree.
std::string rewrite_oniguruma_pattern(std::string_view pattern);

// A compiled PCRE2 pattern (UTF + UCP, JIT when available). Thread-safe.
class RegexSplitter {
 public:
  enum class Behavior { kIsolated, kRemoved };
  static absl::StatusOr<std::unique_ptr<RegexSplitter>> compile(std::string_view oniguruma_pattern,
                                                                Behavior behavior);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the non-empty pieces of `text` (valid UTF-8): each match, and each gap
  // between matches, in order (matches dropped for kRemoved).
  absl::Status split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Code;
  RegexSplitter(std::unique_ptr<Code> code, Behavior behavior);
  std::unique_ptr<Code> code_;
  Behavior behavior_;
};

// One step of a pre-tokenizer `Sequence`.
struct PreTokenizerStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind = Kind::kSplit;
  std::unique_ptr<RegexSplitter> splitter;  // kSplit, or kByteLevel with use_regex
  bool add_prefix_space = false;            // kByteLevel
};

class PreTokenizer {
 public:
  void add_step(PreTokenizerStep step) { steps_.push_back(std::move(step)); }
  bool has_byte_level() const;
  // Cuts `text` into words (views into `text` or into strings kept in `storage`).
  absl::Status run(std::string_view text, std::vector<std::string_view>& words,
                   std::deque<std::string>& storage) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

}  // namespace dllm::tokenizer_internal
