// Unit tests of the byte-level BPE tokenizer on small tokenizer.json files written here.
#include "common/tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/pre_tokenizer.h"

namespace dllm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tokenizer_internal::bytes_to_byte_level;

// A tokenizer.json with all 256 byte tokens (id = byte value) and the given merges
// (raw-byte pairs) as ids 256, 257, ... in rank order.
json make_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                    json added_tokens = json::array(), bool string_merges = false,
                    json pre_tokenizer = nullptr, json normalizer = {{"type", "NFC"}}) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] = b;
  json merge_list = json::array();
  int next = 256;
  for (const auto& [l, r] : merges) {
    const std::string left = bytes_to_byte_level(l), right = bytes_to_byte_level(r);
    if (!vocab.contains(left + right)) vocab[left + right] = next++;
    if (string_merges) {
      merge_list.push_back(left + " " + right);
    } else {
      merge_list.push_back({left, right});
    }
  }
  if (pre_tokenizer.is_null()) {
    pre_tokenizer = {{"type", "Sequence"},
                     {"pretokenizers",
                      {{{"type", "Split"},
                        {"pattern", {{"Regex", std::string(tokenizer_internal::kQwen2SplitPattern)}}},
                        {"behavior", "Isolated"},
                        {"invert", false}},
                       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  }
  return {{"version", "1.0"},
          {"added_tokens", added_tokens},
          {"normalizer", normalizer},
          {"pre_tokenizer", pre_tokenizer},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}}};
}

json added(int id, const std::string& content, bool special = true, json flags = json::object()) {
  json t = {{"id", id},      {"content", content}, {"special", special}, {"single_word", false},
            {"lstrip", false}, {"rstrip", false},  {"normalized", false}};
  t.update(flags);
  return t;
}

// Per test, since ctest runs the tests of this file as parallel processes.
fs::path temp_dir(const std::string& name) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::path(DLLM_BINARY_DIR) / "tokenizer_unit" /
                       (std::string(test->test_suite_name()) + "." + test->name()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::unique_ptr<Tokenizer> load(const json& j, const std::string& name = "t") {
  const fs::path path = temp_dir(name) / "tokenizer.json";
  std::ofstream(path) << j.dump();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::load_tokenizer_json(path.string());
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? std::move(*tok) : nullptr;
}

absl::Status load_error(const std::string& text) {
  const fs::path path = temp_dir("err") / "tokenizer.json";
  std::ofstream(path) << text;
  return Tokenizer::load_tokenizer_json(path.string()).status();
}

std::vector<int32_t> encode(const Tokenizer& tok, std::string_view text) {
  absl::StatusOr<std::vector<int32_t>> ids = tok.encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerTest, MergeRankDecidesTheOrder) {
  // "abc": with (b,c) ranked first the result is a|bc, with (a,b) first it is ab|c.
  auto bc_first = load(make_tokenizer({{"b", "c"}, {"a", "b"}}));
  auto ab_first = load(make_tokenizer({{"a", "b"}, {"b", "c"}}));
  EXPECT_EQ(encode(*bc_first, "abc"), (std::vector<int32_t>{'a', 256}));
  EXPECT_EQ(encode(*ab_first, "abc"), (std::vector<int32_t>{256, 'c'}));
  // Merges chain: "hello" needs he, ll, hell, hello in that rank order.
  auto chain = load(make_tokenizer({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}}));
  EXPECT_EQ(encode(*chain, "hello"), (std::vector<int32_t>{259}));
  EXPECT_EQ(encode(*chain, "hellx"), (std::vector<int32_t>{258, 'x'}));
}

TEST(TokenizerTest, BothMergeFormsGiveTheSameIds) {
  const std::vector<std::pair<std::string, std::string>> merges = {
      {" ", "t"}, {" t", "h"}, {" th", "e"}, {"o", "n"}};
  auto pairs = load(make_tokenizer(merges, json::array(), false), "pairs");
  auto strings = load(make_tokenizer(merges, json::array(), true), "strings");
  const std::string text = "on the one, then the moon";
  EXPECT_EQ(encode(*pairs, text), encode(*strings, text));
  EXPECT_EQ(encode(*pairs, " the"), (std::vector<int32_t>{258}));
}

TEST(TokenizerTest, AddedTokensLongestMatchFirst) {
  auto tok = load(make_tokenizer({}, {added(300, "<x>"), added(301, "<x><y>"), added(302, "<|end|>")}));
  EXPECT_EQ(encode(*tok, "a<x><y>b<x>"), (std::vector<int32_t>{'a', 301, 'b', 300}));
  // Near misses stay text; spaces around tokens stay ordinary tokens (no lstrip/rstrip).
  EXPECT_EQ(encode(*tok, "<|END|>").size(), 7u);
  const std::vector<int32_t> ids = encode(*tok, " <|end|> ");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 302);
  EXPECT_EQ(*tok->decode(ids), " <|end|> ");
  EXPECT_EQ(*tok->decode(ids, /*skip_special=*/true), "  ");
  EXPECT_TRUE(tok->is_special(302));
  EXPECT_EQ(tok->token_to_id("<|end|>"), 302);
  EXPECT_EQ(tok->vocab_size(), 303);
}

TEST(TokenizerTest, AddedTokenFlags) {
  auto tok = load(make_tokenizer(
      {}, {added(300, "<m>", true, {{"lstrip", true}, {"rstrip", true}}),
           added(301, "cat", false, {{"single_word", true}}),
           added(302, "\xC3\xA9", false, {{"normalized", true}})}));
  EXPECT_EQ(encode(*tok, "a  <m>\t b"), (std::vector<int32_t>{'a', 300, 'b'}));
  EXPECT_EQ(encode(*tok, "cat"), (std::vector<int32_t>{301}));
  EXPECT_EQ(encode(*tok, "a cat."), (std::vector<int32_t>{'a', ' ', 301, '.'}));
  EXPECT_EQ(encode(*tok, "concat").size(), 6u);  // inside a word: not the added token
  // A normalized token matches the NFC form of decomposed input (e + U+0301).
  EXPECT_EQ(encode(*tok, "e\xCC\x81"), (std::vector<int32_t>{302}));
  EXPECT_FALSE(tok->is_special(301));
}

TEST(TokenizerTest, NfcAppliesBetweenAddedTokensOnly) {
  auto tok = load(make_tokenizer({}, {added(300, "<|im_end|>")}));
  // ">" + U+0338 would compose to U+226F if NFC ran over the whole string.
  EXPECT_EQ(encode(*tok, "<|im_end|>\xCC\xB8"), (std::vector<int32_t>{300, 0xCC, 0xB8}));
  // Inside a segment NFC does apply: e + U+0301 becomes U+00E9 (bytes C3 A9).
  EXPECT_EQ(encode(*tok, "e\xCC\x81"), (std::vector<int32_t>{0xC3, 0xA9}));
}

TEST(TokenizerTest, DecodeReplacesInvalidUtf8LikeHf) {
  auto tok = load(make_tokenizer({}));
  const auto decode = [&](std::vector<int32_t> ids) { return *tok->decode(ids); };
  EXPECT_EQ(decode({0xE2, 0x82, 'a'}), "\xEF\xBF\xBD" "a");  // truncated sequence: one U+FFFD
  EXPECT_EQ(decode({0xFF}), "\xEF\xBF\xBD");
  EXPECT_EQ(decode({0xED, 0xA0, 0x80}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(decode({0xC0, 0xAF}), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(decode({0xE2, 0x82, 0xAC}), "\xE2\x82\xAC");                         // euro sign
  EXPECT_EQ(decode({}), "");
}

TEST(TokenizerTest, Errors) {
  auto tok = load(make_tokenizer({}));
  const std::vector<int32_t> bad_id = {'a', 256};
  absl::Status s = tok->decode(bad_id).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("token id 256"), std::string::npos) << s;
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ(tok->decode(negative).status().code(), absl::StatusCode::kOutOfRange);

  s = tok->encode("ok\xC3(").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid UTF-8 at byte 2");
  EXPECT_EQ(tok->encode("\xED\xA0\x80").status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(load_error("{\"model\": ").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(load_error("{}").code(), absl::StatusCode::kInvalidArgument);  // no "model"
  json wordpiece = make_tokenizer({});
  wordpiece["model"]["type"] = "WordPiece";
  s = load_error(wordpiece.dump());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("WordPiece"), std::string::npos) << s;
  json missing = make_tokenizer({{"a", "b"}});
  missing["model"]["merges"].push_back({"x", "yz"});  // "yz" is not in the vocab
  EXPECT_EQ(load_error(missing.dump()).code(), absl::StatusCode::kInvalidArgument);
  json bad_type = make_tokenizer({});
  bad_type["model"]["vocab"]["a"] = "not a number";
  EXPECT_EQ(load_error(bad_type.dump()).code(), absl::StatusCode::kInvalidArgument);
  json bad_regex = make_tokenizer({});
  bad_regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_EQ(load_error(bad_regex.dump()).code(), absl::StatusCode::kInvalidArgument);
  json not_byte_level = make_tokenizer({});
  not_byte_level["pre_tokenizer"]["pretokenizers"].erase(1);
  EXPECT_EQ(load_error(not_byte_level.dump()).code(), absl::StatusCode::kUnimplemented);

  EXPECT_EQ(Tokenizer::load_tokenizer_json("/nonexistent/tokenizer.json").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Tokenizer::load_from_dir(temp_dir("empty").string()).status().code(),
            absl::StatusCode::kNotFound);
}

// Found by tests/fuzz (tokenizer_json, vocab_merges): a float id was cast to int32 (undefined),
// an integer past int32 wrapped to a small id, and a huge id sized the dense id tables.
TEST(TokenizerTest, IdsAreIntegersInRange) {
  for (const json& id :
       {json(4.85922e+22), json(97.0), json(int64_t{4294967296} + 97),
        json(uint64_t{18446744073709551615u}), json(int64_t{1} << 21), json(-1), json("97")}) {
    json bad = make_tokenizer({});
    bad["model"]["vocab"]["xyz"] = id;
    const absl::Status s = load_error(bad.dump());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id.dump() << ": " << s;
    EXPECT_NE(s.message().find("token 'xyz'"), std::string::npos) << s;
    json bad_added = make_tokenizer({}, json::array({added(0, "<x>")}));
    bad_added["added_tokens"][0]["id"] = id;
    EXPECT_EQ(load_error(bad_added.dump()).code(), absl::StatusCode::kInvalidArgument) << id.dump();
  }
  json big = make_tokenizer({}, json::array({added((1 << 21) - 1, "<last>")}));
  auto tok = load(big);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 1 << 21);

  const std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  EXPECT_TRUE(Tokenizer::from_vocab_merges(vocab, "a b\n", "", "pair").ok());
  const absl::Status wrapped =
      Tokenizer::from_vocab_merges(R"({"a": 0, "b": 4294967297, "ab": 2})", "a b\n", "", "pair")
          .status();
  EXPECT_EQ(wrapped.code(), absl::StatusCode::kInvalidArgument) << wrapped;
  EXPECT_EQ(wrapped.message().rfind("pair: ", 0), 0u) << wrapped;
  const json config = {{"added_tokens_decoder", {{"4294967299", {{"content", "<x>"}}}}}};
  EXPECT_EQ(Tokenizer::from_vocab_merges(vocab, "a b\n", config.dump(), "pair").status().code(),
            absl::StatusCode::kInvalidArgument);
  const json not_a_number = {{"added_tokens_decoder", {{"3x", {{"content", "<x>"}}}}}};
  EXPECT_EQ(
      Tokenizer::from_vocab_merges(vocab, "a b\n", not_a_number.dump(), "pair").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, FromTextLoadsLikeFromFile) {
  const json j = make_tokenizer({{"h", "i"}}, json::array({added(300, "<s>")}));
  auto from_file = load(j);
  absl::StatusOr<std::unique_ptr<Tokenizer>> from_text =
      Tokenizer::from_tokenizer_json(j.dump(), "mem");
  ASSERT_TRUE(from_text.ok()) << from_text.status();
  EXPECT_EQ(encode(**from_text, "hi<s>hi"), encode(*from_file, "hi<s>hi"));
  EXPECT_EQ((*from_text)->vocab_size(), from_file->vocab_size());
  const absl::Status s = Tokenizer::from_tokenizer_json("{", "mem").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "mem: not valid JSON");
}

TEST(TokenizerTest, WhitespaceIsUnicodeWhiteSpace) {
  EXPECT_EQ(tokenizer_internal::rewrite_oniguruma_pattern(R"(\s+(?!\S)|[^\s\p{L}]|\\s)"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}]|\\s)");
  auto splitter = tokenizer_internal::RegexSplitter::compile(
      tokenizer_internal::kQwen2SplitPattern, tokenizer_internal::RegexSplitter::Behavior::kIsolated);
  ASSERT_TRUE(splitter.ok()) << splitter.status();
  const auto split = [&](std::string_view text) {
    std::vector<std::string_view> out;
    EXPECT_TRUE((*splitter)->split(text, out).ok());
    return std::vector<std::string>(out.begin(), out.end());
  };
  // NBSP and U+3000 are whitespace; U+200B, U+FEFF, U+180E and U+001F are not.
  EXPECT_EQ(split("a\xC2\xA0\xC2\xA0" "b"), (std::vector<std::string>{"a", "\xC2\xA0", "\xC2\xA0" "b"}));
  EXPECT_EQ(split("a\xE3\x80\x80" "b"), (std::vector<std::string>{"a", "\xE3\x80\x80" "b"}));
  EXPECT_EQ(split("a\xE2\x80\x8B" "b"), (std::vector<std::string>{"a", "\xE2\x80\x8B" "b"}));
  EXPECT_EQ(split("a\xE1\xA0\x8E" "b"), (std::vector<std::string>{"a", "\xE1\xA0\x8E" "b"}));
  EXPECT_EQ(split("a\x1f" "b"), (std::vector<std::string>{"a", "\x1f" "b"}));
  EXPECT_EQ(split("x = 1   \n    y"),
            (std::vector<std::string>{"x", " =", " ", "1", "   \n", "   ", " y"}));
  EXPECT_EQ(split("They'Ve 12"), (std::vector<std::string>{"They", "'Ve", " ", "1", "2"}));
}

TEST(TokenizerTest, Gpt2ByteLevelWithPrefixSpace) {
  json pre = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  auto tok = load(make_tokenizer({{" ", "h"}, {" h", "i"}}, json::array(), false, pre, nullptr));
  EXPECT_EQ(encode(*tok, "hi hi"), (std::vector<int32_t>{257, 257}));
  EXPECT_EQ(*tok->decode(encode(*tok, "hi hi")), " hi hi");
}

TEST(TokenizerTest, VocabMergesPairWithConfig) {
  const fs::path dir = temp_dir("pair");
  json vocab = make_tokenizer({{"h", "i"}})["model"]["vocab"];
  vocab["<|im_start|>"] = 257;
  std::ofstream(dir / "vocab.json") << vocab.dump();
  std::ofstream(dir / "merges.txt") << "#version: 0.2\nh i\n";
  json config = {{"tokenizer_class", "Qwen2Tokenizer"},
                 {"added_tokens_decoder",
                  {{"257", {{"content", "<|im_start|>"}, {"special", true}, {"normalized", false}}},
                   {"258", {{"content", "<|im_end|>"}, {"special", true}, {"normalized", false}}}}}};
  std::ofstream(dir / "tokenizer_config.json") << config.dump();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::load_from_dir(dir.string());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(encode(**tok, "<|im_start|>hi<|im_end|>"), (std::vector<int32_t>{257, 256, 258}));
  EXPECT_EQ((*tok)->vocab_size(), 259);
}

TEST(TokenizerTest, LongInputsAndThreads) {
  auto tok = load(make_tokenizer({{"a", "a"}, {"aa", "aa"}, {" ", " "}}));
  const std::vector<int32_t> ids = encode(*tok, std::string(100001, 'a'));
  EXPECT_EQ(ids.size(), 25001u);
  EXPECT_EQ(*tok->decode(encode(*tok, std::string(50000, ' ') + "x")), std::string(50000, ' ') + "x");
  std::vector<std::thread> threads;
  std::vector<bool> ok(4, false);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string text = "aaaa a aa aaa " + std::to_string(t);
      bool good = true;
      for (int i = 0; i < 200; ++i) good = good && *tok->decode(*tok->encode(text)) == text;
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<bool>(4, true));
}

TEST(ChatTemplateTest, LladaInstruct) {
  const std::vector<ChatMessage> one = {{"user", "  What is 2+2?\n"}};
  EXPECT_EQ(render_chat(ChatTemplateKind::kLladaInstruct, one, true),
            "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  const std::vector<ChatMessage> multi = {
      {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}};
  EXPECT_EQ(render_chat(ChatTemplateKind::kLladaInstruct, multi, false),
            "<|startoftext|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>");
}

TEST(ChatTemplateTest, DreamInstruct) {
  const std::vector<ChatMessage> one = {{"user", " Hi "}};
  EXPECT_EQ(render_chat(ChatTemplateKind::kDreamInstruct, one, true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n");
  const std::vector<ChatMessage> multi = {{"system", "Be brief."}, {"user", "Hi"},
                                          {"assistant", "Hello!"}, {"tool", "42"},
                                          {"tool", "43"},          {"user", "Bye"}};
  EXPECT_EQ(render_chat(ChatTemplateKind::kDreamInstruct, multi, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\n<tool_response>\n42\n</tool_response>\n<tool_response>\n43\n"
            "</tool_response><|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
  EXPECT_EQ(parse_chat_template_kind("Dream"), ChatTemplateKind::kDreamInstruct);
  EXPECT_EQ(parse_chat_template_kind("llada"), ChatTemplateKind::kLladaInstruct);
  EXPECT_EQ(parse_chat_template_kind("jinja"), std::nullopt);
}

TEST(ChatTemplateTest, MissingSpecialTokensAreAnError) {
  auto tok = load(make_tokenizer({}, {added(300, "<|im_start|>")}));
  const std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  absl::Status s = tok->encode_chat(ChatTemplateKind::kDreamInstruct, msgs, true).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("<|im_end|>"), std::string::npos) << s;
  EXPECT_EQ(tok->guess_chat_template(), std::nullopt);
}

TEST(BundledTokenizerTest, LladaTinyLoadsAndRoundTrips) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> loaded =
      Tokenizer::load_from_dir(std::string(DLLM_SOURCE_DIR) + "/models/llada-tiny");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tokenizer& tok = **loaded;
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.token_to_id("<|endoftext|>"), 490);
  EXPECT_EQ(tok.token_to_id("<|mdm_mask|>"), 500);
  EXPECT_EQ(tok.token_to_id("<|startoftext|>"), 491);
  for (int32_t id = 0; id < 512; ++id) EXPECT_TRUE(tok.id_to_token(id).has_value()) << id;
  const std::string text =
      "The licenses for most software are designed to take away your freedom to share and "
      "change it. By contrast, the GNU General Public License is intended to guarantee your "
      "freedom -- version 3, 29 June 2007.\n\tIt's naïve to think otherwise!";
  const std::vector<int32_t> ids = encode(tok, text);
  EXPECT_LT(ids.size(), text.size() * 3 / 5);  // 234 merges do compress English
  EXPECT_EQ(*tok.decode(ids), text);
  EXPECT_EQ(tok.guess_chat_template(), ChatTemplateKind::kLladaInstruct);
  const std::vector<ChatMessage> msgs = {{"user", "Hello"}};
  absl::StatusOr<std::vector<int32_t>> chat =
      tok.encode_chat(ChatTemplateKind::kLladaInstruct, msgs, true);
  ASSERT_TRUE(chat.ok()) << chat.status();
  ASSERT_GE(chat->size(), 4u);
  EXPECT_EQ((*chat)[0], 491);
  EXPECT_EQ((*chat)[1], 493);
  EXPECT_EQ(*tok.decode(*chat, /*skip_special=*/true), "user\n\nHelloassistant\n\n");
  EXPECT_FALSE(tok.check_chat_template(ChatTemplateKind::kDreamInstruct).ok());
}

}  // namespace
}  // namespace dllm
