// Loads a Tokenizer from tokenizer.json, or from vocab.json + merges.txt (+ tokenizer_config.json).
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/tokenizer_state.h"

namespace dllm {
namespace {

using json = nlohmann::json;
using tokenizer_internal::AddedToken;
using tokenizer_internal::BpeOptions;
using tokenizer_internal::PreTokenizer;
using tokenizer_internal::PreTokenizerStep;
using tokenizer_internal::RegexSplitter;
using tokenizer_internal::TokenizerState;
using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

absl::StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return std::move(buffer).str();
}

absl::StatusOr<json> parse_json_text(std::string_view text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  return j;
}

absl::StatusOr<json> parse_json_file(const std::string& path) {
  absl::StatusOr<std::string> text = read_file(path);
  if (!text.ok()) return text.status();
  return parse_json_text(*text, path);
}

std::string type_of(const json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                       : std::string();
}

// The id tables are dense (a slot per id up to the largest, tokenizer_state.h), so an id is
// bounded: 2^21 is eight times the largest vocabulary in use (~256k).
constexpr int64_t kMaxTokenId = (int64_t{1} << 21) - 1;

// A token id as Hugging Face writes it: a JSON integer in [0, kMaxTokenId]. A float or a value
// past int32 would otherwise be cast (undefined for floats, wrapped for integers).
absl::StatusOr<int32_t> token_id(const json& v, const std::string& token) {
  int64_t id = -1;
  if (v.is_number_unsigned()) {
    id = v.get<uint64_t>() > static_cast<uint64_t>(kMaxTokenId)
             ? kMaxTokenId + 1
             : static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    id = v.get<int64_t>();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("token '", token, "': id is not an integer (", v.type_name(), ")"));
  }
  if (id < 0 || id > kMaxTokenId) {
    return absl::InvalidArgumentError(
        absl::StrCat("token '", token, "': id ", v.dump(), " is outside [0, ", kMaxTokenId, "]"));
  }
  return static_cast<int32_t>(id);
}

// Oniguruma/PCRE2 escape of a literal `Split` pattern ({"String": ...}).
std::string escape_literal(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x80 && !std::isalnum(u)) out.push_back('\\');
    out.push_back(ch);
  }
  return out;
}

absl::Status add_pre_tokenizer(const json& j, PreTokenizer& pre) {
  const std::string type = type_of(j);
  if (type == "Sequence") {
    for (const json& step : j.at("pretokenizers")) {
      if (absl::Status s = add_pre_tokenizer(step, pre); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::kByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", true);  // HF's defaults
    if (j.value("use_regex", true)) {
      absl::StatusOr<std::unique_ptr<RegexSplitter>> splitter = RegexSplitter::compile(
          tokenizer_internal::kGpt2SplitPattern, RegexSplitter::Behavior::kIsolated);
      if (!splitter.ok()) return splitter.status();
      step.splitter = std::move(*splitter);
    }
    pre.add_step(std::move(step));
    return absl::OkStatus();
  }
  if (type == "Split") {
    const json& pattern = j.at("pattern");
    std::string regex;
    if (pattern.contains("Regex")) {
      regex = pattern["Regex"].get<std::string>();
    } else if (pattern.contains("String")) {
      regex = escape_literal(pattern["String"].get<std::string>());
    } else {
      return absl::InvalidArgumentError("Split pre-tokenizer without a Regex or String pattern");
    }
    const std::string behavior = j.value("behavior", std::string("Isolated"));
    if (j.value("invert", false)) return absl::UnimplementedError("Split with invert: true");
    RegexSplitter::Behavior b;
    if (behavior == "Isolated") {
      b = RegexSplitter::Behavior::kIsolated;
    } else if (behavior == "Removed") {
      b = RegexSplitter::Behavior::kRemoved;
    } else {
      return absl::UnimplementedError(absl::StrCat("Split behavior '", behavior, "'"));
    }
    absl::StatusOr<std::unique_ptr<RegexSplitter>> splitter = RegexSplitter::compile(regex, b);
    if (!splitter.ok()) return splitter.status();
    PreTokenizerStep step;
    step.splitter = std::move(*splitter);
    pre.add_step(std::move(step));
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat("pre-tokenizer type '", type, "'"));
}

// Sets `nfc` for an NFC normalizer (alone or in a Sequence); others are not supported.
absl::Status read_normalizer(const json& j, bool& nfc) {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = type_of(j);
  if (type == "NFC") {
    nfc = true;
    return absl::OkStatus();
  }
  if (type == "Sequence") {
    for (const json& n : j.at("normalizers")) {
      if (absl::Status s = read_normalizer(n, nfc); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat("normalizer type '", type, "'"));
}

absl::Status check_decoder(const json& j) {
  if (j.is_null()) return absl::OkStatus();
  const std::string type = type_of(j);
  if (type == "ByteLevel") return absl::OkStatus();
  if (type == "Sequence") {
    for (const json& d : j.at("decoders")) {
      if (absl::Status s = check_decoder(d); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return absl::UnimplementedError(absl::StrCat("decoder type '", type, "'"));
}

absl::StatusOr<AddedToken> read_added_token(const json& j, const json& id) {
  AddedToken t;
  t.content = j.at("content").get<std::string>();
  absl::StatusOr<int32_t> checked = token_id(id, t.content);
  if (!checked.ok()) return checked.status();
  t.id = *checked;
  t.special = j.value("special", false);
  t.single_word = j.value("single_word", false);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.normalized = j.value("normalized", !t.special);
  return t;
}

// tokenizer_config.json's "added_tokens_decoder" ({"151643": {...}, ...}) adds or
// replaces added tokens by id.
absl::Status apply_added_tokens_decoder(const json& config, std::vector<AddedToken>& added) {
  if (!config.contains("added_tokens_decoder")) return absl::OkStatus();
  for (const auto& [key, value] : config["added_tokens_decoder"].items()) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(key, &id)) {
      return absl::InvalidArgumentError(absl::StrCat("added_tokens_decoder key '", key, "'"));
    }
    absl::StatusOr<AddedToken> t = read_added_token(value, json(id));
    if (!t.ok()) return t.status();
    std::erase_if(added, [&](const AddedToken& a) { return a.id == t->id; });
    added.push_back(std::move(*t));
  }
  return absl::OkStatus();
}

absl::Status read_merge(const json& m, Merges& merges) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const std::vector<std::string> parts = absl::StrSplit(s, ' ');
    if (parts.size() != 2) return absl::InvalidArgumentError(absl::StrCat("bad merge '", s, "'"));
    merges.emplace_back(parts[0], parts[1]);
  } else if (m.is_array() && m.size() == 2) {
    merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
  } else {
    return absl::InvalidArgumentError(absl::StrCat("bad merge ", m.dump()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TokenizerState>> build_state(const Vocab& vocab,
                                                            const Merges& merges,
                                                            BpeOptions options,
                                                            std::unique_ptr<TokenizerState> state) {
  if (!state->pre_tokenizer.has_byte_level()) {
    return absl::UnimplementedError(
        "only byte-level BPE is supported: the pre-tokenizer has no ByteLevel step");
  }
  for (const AddedToken& t : state->added_tokens) {
    if (t.id < 0) return absl::InvalidArgumentError(absl::StrCat("added token ", t.content, " has a negative id"));
  }
  absl::StatusOr<std::unique_ptr<tokenizer_internal::BpeModel>> model =
      tokenizer_internal::BpeModel::create(vocab, merges, options);
  if (!model.ok()) return model.status();
  state->model = std::move(*model);
  tokenizer_internal::finish_state(vocab, *state);
  return state;
}

absl::StatusOr<std::unique_ptr<TokenizerState>> state_from_tokenizer_json(const json& root) {
  auto state = std::make_unique<TokenizerState>();
  const json& model = root.at("model");
  const std::string model_type = type_of(model);
  if (!(model_type == "BPE" || (model_type.empty() && model.contains("merges")))) {
    return absl::UnimplementedError(absl::StrCat("tokenizer model type '", model_type,
                                                 "' (only BPE is supported)"));
  }
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0) {
    return absl::UnimplementedError("BPE dropout");
  }
  if (!model.value("continuing_subword_prefix", json()).is_null() &&
      !model["continuing_subword_prefix"].get<std::string>().empty()) {
    return absl::UnimplementedError("BPE continuing_subword_prefix");
  }
  if (!model.value("end_of_word_suffix", json()).is_null() &&
      !model["end_of_word_suffix"].get<std::string>().empty()) {
    return absl::UnimplementedError("BPE end_of_word_suffix");
  }
  if (model.value("byte_fallback", false)) return absl::UnimplementedError("BPE byte_fallback");

  Vocab vocab;
  vocab.reserve(model.at("vocab").size());
  for (const auto& [text, id] : model.at("vocab").items()) {
    absl::StatusOr<int32_t> checked = token_id(id, text);
    if (!checked.ok()) return checked.status();
    vocab.emplace_back(text, *checked);
  }
  Merges merges;
  merges.reserve(model.at("merges").size());
  for (const json& m : model.at("merges")) {
    if (absl::Status s = read_merge(m, merges); !s.ok()) return s;
  }
  BpeOptions options;
  options.ignore_merges = model.value("ignore_merges", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    for (const auto& [text, id] : vocab) {
      if (text == unk) options.unk_id = id;
    }
  }
  if (absl::Status s = read_normalizer(root.value("normalizer", json()), state->nfc); !s.ok()) return s;
  if (absl::Status s = add_pre_tokenizer(root.value("pre_tokenizer", json()), state->pre_tokenizer);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = check_decoder(root.value("decoder", json())); !s.ok()) return s;
  for (const json& t : root.value("added_tokens", json::array())) {
    absl::StatusOr<AddedToken> token = read_added_token(t, t.at("id"));
    if (!token.ok()) return token.status();
    state->added_tokens.push_back(std::move(*token));
  }
  return build_state(vocab, merges, options, std::move(state));
}

// vocab.json + merges.txt (+ tokenizer_config.json, an empty object when absent) → state.
absl::StatusOr<std::unique_ptr<TokenizerState>> state_from_vocab_merges(
    const json& vocab_json, std::string_view merges_text, const json& config) {
  if (!vocab_json.is_object()) return absl::InvalidArgumentError("vocab.json is not an object");
  Vocab vocab;
  vocab.reserve(vocab_json.size());
  for (const auto& [text, id] : vocab_json.items()) {
    absl::StatusOr<int32_t> checked = token_id(id, text);
    if (!checked.ok()) return checked.status();
    vocab.emplace_back(text, *checked);
  }
  Merges merges;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(merges_text.data(), merges_text.size()), '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || absl::StartsWith(line, "#version")) continue;
    if (absl::Status s = read_merge(json(std::string(line.data(), line.size())), merges); !s.ok())
      return s;
  }
  auto st = std::make_unique<TokenizerState>();
  const std::string cls = config.value("tokenizer_class", std::string());
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
  if (cls.starts_with("GPT2Tokenizer")) {
    // GPT-2's slow tokenizer: its own regex, no normalizer.
    json step = {{"type", "ByteLevel"},
                 {"use_regex", true},
                 {"add_prefix_space", config.value("add_prefix_space", false)}};
    if (absl::Status s = add_pre_tokenizer(step, st->pre_tokenizer); !s.ok()) return s;
  } else {
    // Qwen2Tokenizer / DreamTokenizer: NFC, Qwen2's split regex, bytes to unicode.
    st->nfc = true;
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", std::string(tokenizer_internal::kQwen2SplitPattern)}}},
                  {"behavior", "Isolated"}};
    if (absl::Status s = add_pre_tokenizer(split, st->pre_tokenizer); !s.ok()) return s;
    st->pre_tokenizer.add_step(std::move(byte_level));
  }
  if (absl::Status s = apply_added_tokens_decoder(config, st->added_tokens); !s.ok()) return s;
  return build_state(vocab, merges, BpeOptions{}, std::move(st));
}

// Runs `build`, turning a nlohmann exception (missing key, wrong type) into a Status so
// that none crosses the module boundary.
template <typename Fn>
auto guard_json(Fn&& build) -> decltype(build()) {
  try {
    return build();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load_tokenizer_json(const std::string& path) {
  absl::StatusOr<std::string> text = read_file(path);
  if (!text.ok()) return text.status();
  return from_tokenizer_json(*text, path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::from_tokenizer_json(
    std::string_view json_text, const std::string& source) {
  absl::StatusOr<json> root = parse_json_text(json_text, source);
  if (!root.ok()) return root.status();
  absl::StatusOr<std::unique_ptr<TokenizerState>> state =
      guard_json([&] { return state_from_tokenizer_json(*root); });
  if (!state.ok())
    return absl::Status(state.status().code(),
                        absl::StrCat(source, ": ", state.status().message()));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(*state)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load_vocab_merges(
    const std::string& vocab_path, const std::string& merges_path,
    const std::string& config_path) {
  absl::StatusOr<json> vocab_json = parse_json_file(vocab_path);
  if (!vocab_json.ok()) return vocab_json.status();
  absl::StatusOr<std::string> merges_text = read_file(merges_path);
  if (!merges_text.ok()) return merges_text.status();
  json config = json::object();
  if (!config_path.empty()) {
    absl::StatusOr<json> c = parse_json_file(config_path);
    if (!c.ok()) return c.status();
    config = std::move(*c);
  }
  absl::StatusOr<std::unique_ptr<TokenizerState>> state =
      guard_json([&] { return state_from_vocab_merges(*vocab_json, *merges_text, config); });
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat(vocab_path, " + ", merges_path, ": ", state.status().message()));
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(*state)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::from_vocab_merges(
    std::string_view vocab_json, std::string_view merges_txt, std::string_view config_json,
    const std::string& source) {
  absl::StatusOr<json> vocab = parse_json_text(vocab_json, source + " (vocab.json)");
  if (!vocab.ok()) return vocab.status();
  json config = json::object();
  if (!config_json.empty()) {
    absl::StatusOr<json> c = parse_json_text(config_json, source + " (tokenizer_config.json)");
    if (!c.ok()) return c.status();
    config = std::move(*c);
  }
  absl::StatusOr<std::unique_ptr<TokenizerState>> state =
      guard_json([&] { return state_from_vocab_merges(*vocab, merges_txt, config); });
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat(source, ": ", state.status().message()));
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(*state)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load_from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path root(dir);
  const fs::path config = root / "tokenizer_config.json";
  const std::string config_path = fs::exists(config) ? config.string() : std::string();
  if (fs::exists(root / "tokenizer.json")) {
    const std::string path = (root / "tokenizer.json").string();
    absl::StatusOr<json> j = parse_json_file(path);
    if (!j.ok()) return j.status();
    absl::StatusOr<std::unique_ptr<TokenizerState>> state =
        guard_json([&]() -> absl::StatusOr<std::unique_ptr<TokenizerState>> {
          // tokenizer_config.json's added tokens take precedence, as in transformers.
          if (!config_path.empty()) {
            absl::StatusOr<json> c = parse_json_file(config_path);
            if (!c.ok()) return c.status();
            json& added = (*j)["added_tokens"];
            if (added.is_null()) added = json::array();
            std::vector<AddedToken> tokens;
            for (const json& t : added) {
              absl::StatusOr<AddedToken> token = read_added_token(t, t.at("id"));
              if (!token.ok()) return token.status();
              tokens.push_back(std::move(*token));
            }
            if (absl::Status s = apply_added_tokens_decoder(*c, tokens); !s.ok()) return s;
            added = json::array();
            for (const AddedToken& t : tokens) {
              added.push_back({{"id", t.id}, {"content", t.content}, {"special", t.special},
                               {"single_word", t.single_word}, {"lstrip", t.lstrip},
                               {"rstrip", t.rstrip}, {"normalized", t.normalized}});
            }
          }
          return state_from_tokenizer_json(*j);
        });
    if (!state.ok()) return absl::Status(state.status().code(), absl::StrCat(path, ": ", state.status().message()));
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(*state)));
  }
  if (fs::exists(root / "vocab.json") && fs::exists(root / "merges.txt")) {
    return load_vocab_merges((root / "vocab.json").string(), (root / "merges.txt").string(),
                             config_path);
  }
  return absl::NotFoundError(
      absl::StrCat(dir, ": no tokenizer.json, nor vocab.json + merges.txt"));
}

}  // namespace dllm
