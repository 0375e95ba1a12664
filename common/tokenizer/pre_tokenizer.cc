// Pre-tokenization: HF `Split` (regex, via PCRE2) and `ByteLevel` steps that cut text into words.
#include "common/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"

namespace dllm::tokenizer_internal {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// PCRE2's JIT keeps backtracking state on its own stack (32 KiB by default); long runs of
// whitespace under `\s+(?!\S)` need more. One stack per thread, freed at thread exit.
struct ThreadJitStack {
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
  pcre2_match_context* context = nullptr;
  ThreadJitStack() {
    context = pcre2_match_context_create(nullptr);
    if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadJitStack() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

pcre2_match_context* thread_match_context() {
  thread_local ThreadJitStack jit;
  return jit.context;
}

size_t next_char_end(std::string_view text, size_t pos) {
  ++pos;
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

}  // namespace

std::string rewrite_oniguruma_pattern(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    // An escape: copy it whole so that "\\s" (a backslash, then s) is left alone.
    const char next = pattern[++i];
    if (next == 's') {
      out += "\\p{White_Space}";
    } else if (next == 'S') {
      out += "\\P{White_Space}";
    } else {
      out.push_back('\\');
      out.push_back(next);
    }
  }
  return out;
}

struct RegexSplitter::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(std::unique_ptr<Code> code, Behavior behavior)
    : code_(std::move(code)), behavior_(behavior) {}
RegexSplitter::~RegexSplitter() = default;

absl::StatusOr<std::unique_ptr<RegexSplitter>> RegexSplitter::compile(
    std::string_view oniguruma_pattern, Behavior behavior) {
  const std::string pattern = rewrite_oniguruma_pattern(oniguruma_pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto code = std::make_unique<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code->code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot compile split regex '",
                                                   std::string(oniguruma_pattern), "' at offset ", offset,
                                                   ": ", pcre2_message(error)));
  }
  // JIT is an optimisation only; the interpreter gives the same matches.
  (void)pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<RegexSplitter>(new RegexSplitter(std::move(code), behavior));
}

absl::Status RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (match == nullptr) return absl::ResourceExhaustedError("cannot allocate PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
  size_t pos = 0;
  size_t last_end = 0;
  absl::Status status;
  while (pos <= text.size()) {
    // The caller validated the UTF-8 once; checking it per call would be O(n^2).
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match,
                               thread_match_context());
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("split regex failed at byte ", pos, ": ", pcre2_message(rc)));
      break;
    }
    const size_t start = ovector[0];
    const size_t end = ovector[1];
    if (end == start) {  // empty matches split nothing; move on one character
      if (start >= text.size()) break;
      pos = next_char_end(text, start);
      continue;
    }
    if (start > last_end) out.push_back(text.substr(last_end, start - last_end));
    if (behavior_ == Behavior::kIsolated) out.push_back(text.substr(start, end - start));
    last_end = pos = end;
  }
  if (status.ok() && last_end < text.size()) out.push_back(text.substr(last_end));
  pcre2_match_data_free(match);
  return status;
}

bool PreTokenizer::has_byte_level() const {
  for (const auto& step : steps_) {
    if (step.kind == PreTokenizerStep::Kind::kByteLevel) return true;
  }
  return false;
}

absl::Status PreTokenizer::run(std::string_view text, std::vector<std::string_view>& words,
                               std::deque<std::string>& storage) const {
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  for (const auto& step : steps_) {
    next.clear();
    for (std::string_view piece : current) {
      if (piece.empty()) continue;
      if (step.kind == PreTokenizerStep::Kind::kByteLevel && step.add_prefix_space &&
          piece.front() != ' ') {
        storage.push_back(" " + std::string(piece));
        piece = storage.back();
      }
      if (step.splitter) {
        if (absl::Status s = step.splitter->split(piece, next); !s.ok()) return s;
      } else {
        next.push_back(piece);
      }
    }
    current.swap(next);
  }
  for (std::string_view piece : current) {
    if (!piece.empty()) words.push_back(piece);
  }
  return absl::OkStatus();
}

}  // namespace dllm::tokenizer_internal
