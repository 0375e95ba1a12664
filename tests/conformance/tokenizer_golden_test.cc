// Conformance: the Qwen2/Dream tokenizer against HF `tokenizers` ids (shared/golden/tokenizer).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/unicode_text.h"

namespace dllm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uintmax_t kQwenTokenizerBytes = 11422654;  // sha256 aeb13307... (checked by the script)

struct GoldenCase {
  std::string name;
  std::string text;
  std::vector<int32_t> ids;
  bool roundtrip = false;
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string qwen_tokenizer_path() {
  if (const char* env = std::getenv("DLLM_QWEN_TOKENIZER"); env != nullptr && *env != '\0') return env;
  std::string cache;
  if (const char* env = std::getenv("DLLM_TOKENIZER_CACHE"); env != nullptr && *env != '\0') {
    cache = env;
  } else {
    const char* home = std::getenv("HOME");
    cache = std::string(home != nullptr ? home : "") + "/.cache/dllm-serve/qwen-tok";
  }
  return cache + "/tokenizer.json";
}

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<GoldenCase> load_cases() {
  const fs::path dir = fs::path(DLLM_GOLDEN_DIR) / "tokenizer";
  const json meta = json::parse(read_all(dir / "qwen2-public.meta.json"));
  std::vector<GoldenCase> cases;
  std::istringstream tsv(read_all(dir / "qwen2-public.tsv"));
  std::string line;
  while (std::getline(tsv, line)) {
    const std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() != 3) ADD_FAILURE() << "bad TSV line " << cases.size() + 1;
    if (cols.size() != 3) continue;
    GoldenCase c;
    c.name = meta["rows"][cases.size()]["name"].get<std::string>();
    c.text = unhex(cols[0]);
    for (absl::string_view id : absl::StrSplit(cols[1], ',', absl::SkipEmpty())) {
      int32_t v = 0;
      EXPECT_TRUE(absl::SimpleAtoi(id, &v)) << id;
      c.ids.push_back(v);
    }
    c.roundtrip = cols[2] == "1";
    cases.push_back(std::move(c));
  }
  return cases;
}

class QwenGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cases_ = new std::vector<GoldenCase>(load_cases());
    const std::string path = qwen_tokenizer_path();
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      load_error_ = new std::string("Qwen tokenizer.json not found at " + path +
                                    ": run tools/fetch-qwen-tokenizer.sh first (or set "
                                    "DLLM_QWEN_TOKENIZER)");
      return;
    }
    if (fs::file_size(path, ec) != kQwenTokenizerBytes) {
      load_error_ = new std::string(path + " is not the expected file (size differs); rerun "
                                           "tools/fetch-qwen-tokenizer.sh");
      return;
    }
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::load_tokenizer_json(path);
    if (!tok.ok()) {
      load_error_ = new std::string(tok.status().ToString());
      return;
    }
    tokenizer_ = tok->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete cases_;
    delete load_error_;
    tokenizer_ = nullptr;
    cases_ = nullptr;
    load_error_ = nullptr;
  }
  void SetUp() override {
    // Never pass silently without the file: CI fetches it before the tests.
    if (load_error_ != nullptr) FAIL() << *load_error_;
    ASSERT_EQ(cases_->size(), 62u);
  }

  static void expect_all_cases(const Tokenizer& tok) {
    for (const GoldenCase& c : *cases_) {
      absl::StatusOr<std::vector<int32_t>> ids = tok.encode(c.text);
      ASSERT_TRUE(ids.ok()) << c.name << ": " << ids.status();
      EXPECT_EQ(absl::StrJoin(*ids, ","), absl::StrJoin(c.ids, ",")) << "case " << c.name;
    }
  }

  static inline Tokenizer* tokenizer_ = nullptr;
  static inline std::vector<GoldenCase>* cases_ = nullptr;
  static inline std::string* load_error_ = nullptr;
};

TEST_F(QwenGoldenTest, EncodeMatchesHuggingFace) { expect_all_cases(*tokenizer_); }

TEST_F(QwenGoldenTest, DecodeRoundTripsToNfcText) {
  int checked = 0;
  for (const GoldenCase& c : *cases_) {
    if (!c.roundtrip) continue;
    absl::StatusOr<std::string> text = tokenizer_->decode(c.ids);
    ASSERT_TRUE(text.ok()) << c.name << ": " << text.status();
    absl::StatusOr<std::string> nfc = tokenizer_internal::nfc_normalize(c.text);
    ASSERT_TRUE(nfc.ok());
    EXPECT_EQ(*text, *nfc) << "case " << c.name;
    ++checked;
  }
  EXPECT_EQ(checked, 61);
}

TEST_F(QwenGoldenTest, SpecialTokensAndVocab) {
  EXPECT_EQ(tokenizer_->token_to_id("<|im_end|>"), 151645);
  EXPECT_TRUE(tokenizer_->is_special(151643));
  EXPECT_FALSE(tokenizer_->is_special(9707));
  EXPECT_EQ(tokenizer_->vocab_size(), 151669);
  EXPECT_TRUE(tokenizer_->check_chat_template(ChatTemplateKind::kDreamInstruct).ok());
  EXPECT_FALSE(tokenizer_->check_chat_template(ChatTemplateKind::kLladaInstruct).ok());
  const std::vector<int32_t> ids = {151644, 9707, 151645};
  EXPECT_EQ(*tokenizer_->decode(ids, /*skip_special=*/true), "Hello");
}

// vocab.json + merges.txt ("a b" strings) + tokenizer_config.json's added_tokens_decoder,
// written from the same file, must give the same ids (Dream ships this form).
TEST_F(QwenGoldenTest, VocabMergesPairGivesSameIds) {
  const json root = json::parse(read_all(qwen_tokenizer_path()));
  const fs::path dir = fs::path(DLLM_BINARY_DIR) / "tokenizer_golden_pair";
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.json") << root["model"]["vocab"].dump();
  {
    std::ofstream merges(dir / "merges.txt");
    merges << "#version: 0.2\n";
    for (const json& m : root["model"]["merges"]) {
      merges << m[0].get<std::string>() << ' ' << m[1].get<std::string>() << '\n';
    }
  }
  json config = {{"tokenizer_class", "Qwen2Tokenizer"}, {"added_tokens_decoder", json::object()}};
  for (const json& t : root["added_tokens"]) {
    json entry = t;
    entry.erase("id");
    config["added_tokens_decoder"][std::to_string(t["id"].get<int>())] = entry;
  }
  std::ofstream(dir / "tokenizer_config.json") << config.dump(1);
  fs::remove(dir / "tokenizer.json");

  absl::StatusOr<std::unique_ptr<Tokenizer>> pair = Tokenizer::load_from_dir(dir.string());
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ((*pair)->vocab_size(), tokenizer_->vocab_size());
  expect_all_cases(**pair);
}

}  // namespace
}  // namespace dllm
