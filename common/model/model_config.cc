// Parses a Hugging Face config.json (LLaDA or Dream family) into a validated ModelConfig.
#include "common/model/model_config.h"

#include <climits>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dllm {
namespace {

using Json = nlohmann::json;

// LLaDA-8B special ids (tokenizer of GSAI-ML/LLaDA-8B-*); used only when config.json omits
// them and the embedding is large enough to hold them, so tiny test models are unaffected.
constexpr int kLladaBos = 126080;
constexpr int kLladaEos = 126081;
constexpr int kLladaEot = 126348;
constexpr int kLladaMask = 126336;
constexpr int kDreamMask = 151666;

// A JSON value for an error message; nested values are only named, never dumped, so a hostile
// file cannot make the message (or the recursive dump) arbitrarily large.
std::string brief(const Json& v) {
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  std::string text = v.dump();
  if (text.size() > 64) text = text.substr(0, 64) + "...";
  return text;
}

// Reads typed fields of one JSON object. The first error sticks (later reads return
// fallbacks), so a parser reads every field straight through and checks status() once.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return find(key) != nullptr; }

  int required_int(const char* key) {
    const Json* v = find(key);
    if (v == nullptr) {
      fail(absl::StrCat("missing required field '", prefix_, key, "'"));
      return 0;
    }
    return to_int(key, *v);
  }
  int optional_int(const char* key, int fallback) {
    const Json* v = find(key);
    return v == nullptr ? fallback : to_int(key, *v);
  }
  // Token ids: Hugging Face writes some (eos_token_id) either as an int or a list of ints.
  int token_id(const char* key, int fallback) {
    const Json* v = find(key);
    if (v == nullptr) return fallback;
    if (v->is_array()) {
      if (v->empty()) return fallback;
      return to_int(key, v->front());
    }
    return to_int(key, *v);
  }
  double optional_double(const char* key, double fallback) {
    const Json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) {
      type_error(key, "a number", *v);
      return fallback;
    }
    return v->get<double>();
  }
  bool optional_bool(const char* key, bool fallback) {
    const Json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      type_error(key, "true or false", *v);
      return fallback;
    }
    return v->get<bool>();
  }
  std::string optional_string(const char* key, std::string fallback) {
    const Json* v = find(key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) {
      type_error(key, "a string", *v);
      return fallback;
    }
    return v->get<std::string>();
  }

  void fail(absl::string_view what, absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
    if (status_.ok()) status_ = absl::Status(code, absl::StrCat(source_, ": ", what));
  }
  // Adopts an error from a nested reader, whose message already names the file.
  void adopt(const absl::Status& s) {
    if (status_.ok()) status_ = s;
  }
  const absl::Status& status() const { return status_; }
  const std::string& source() const { return source_; }

 private:
  // Null counts as absent: Hugging Face writes `"n_kv_heads": null` to mean "use the default".
  const Json* find(const char* key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void type_error(const char* key, const char* expected, const Json& got) {
    fail(absl::StrCat("field '", prefix_, key, "' must be ", expected, ", got ", brief(got)));
  }
  int to_int(const char* key, const Json& v) {
    double d = 0;
    if (v.is_number_unsigned()) {
      d = static_cast<double>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
      d = static_cast<double>(v.get<int64_t>());
    } else if (v.is_number_float()) {
      d = v.get<double>();  // some exporters write 4096.0
    } else {
      type_error(key, "an integer", v);
      return 0;
    }
    if (!std::isfinite(d) || d != std::floor(d) || d < INT_MIN || d > INT_MAX) {
      type_error(key, "an integer in the int32 range", v);
      return 0;
    }
    return static_cast<int>(d);
  }

  const Json& object_;
  std::string source_;
  std::string prefix_;
  absl::Status status_;
};

// Reads "rope_scaling" (or transformers-5 "rope_parameters") into `out`.
void parse_rope_scaling(const Json& scaling, FieldReader& top, RopeScaling* out) {
  if (!scaling.is_object()) {
    top.fail(absl::StrCat("rope_scaling must be an object or null, got ", brief(scaling)));
    return;
  }
  FieldReader r(scaling, top.source(), "rope_scaling.");
  // Newer transformers write "rope_type", older ones "type".
  std::string type = r.optional_string("rope_type", r.optional_string("type", ""));
  if (!r.status().ok()) {
    top.adopt(r.status());
    return;
  }
  if (type.empty()) {
    top.fail("rope_scaling has neither 'rope_type' nor 'type'");
    return;
  }
  if (type == "default" || type == "none") {
    *out = RopeScaling{};
    return;
  }
  out->type = type;
  out->factor = r.optional_double("factor", 1.0);
  out->original_max_position = r.optional_int("original_max_position_embeddings", 0);
  if (type == "linear" || type == "dynamic" || type == "ntk") {
    if (!r.has("factor")) r.fail(absl::StrCat("rope_scaling type '", type, "' needs 'factor'"));
  } else if (type == "llama3") {
    out->low_freq_factor = r.optional_double("low_freq_factor", 1.0);
    out->high_freq_factor = r.optional_double("high_freq_factor", 4.0);
    if (!r.has("factor") || out->original_max_position <= 0) {
      r.fail("rope_scaling type 'llama3' needs 'factor' and 'original_max_position_embeddings'");
    } else if (!(out->low_freq_factor > 0 && out->high_freq_factor > out->low_freq_factor)) {
      r.fail("rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor");
    }
  } else if (type == "yarn" || type == "longrope" || type == "su" || type == "mrope") {
    // These also rescale attention logits or need per-dimension tables: an inv_freq-only
    // approximation would silently change the model's outputs.
    r.fail(absl::StrCat("rope_scaling type '", type,
                        "' is not supported (supported: linear, dynamic, ntk, llama3)"),
           absl::StatusCode::kUnimplemented);
  } else {
    r.fail(absl::StrCat("unknown rope_scaling type '", type,
                        "' (supported: linear, dynamic, ntk, llama3)"));
  }
  if (r.status().ok() && !(out->factor > 0 && std::isfinite(out->factor))) {
    r.fail(absl::StrCat("rope_scaling.factor must be positive, got ", out->factor));
  }
  top.adopt(r.status());
}

kernels::DType parse_torch_dtype(FieldReader& r) {
  // transformers 5 renamed torch_dtype to dtype.
  std::string name = r.optional_string("torch_dtype", r.optional_string("dtype", "float32"));
  if (name == "float32" || name == "float") return kernels::DType::kF32;
  if (name == "bfloat16") return kernels::DType::kBF16;
  if (name == "float16" || name == "half") return kernels::DType::kF16;
  r.fail(absl::StrCat("torch_dtype '", name, "' is not one of float32, bfloat16, float16"));
  return kernels::DType::kF32;
}

// Requires `key` to be absent or equal to `want`: the engine implements one variant only.
void require_string(FieldReader& r, const char* key, const char* want) {
  if (!r.has(key)) return;
  std::string got = r.optional_string(key, want);
  if (r.status().ok() && got != want) {
    r.fail(absl::StrCat(key, " '", got, "' is not supported (only '", want, "')"),
           absl::StatusCode::kUnimplemented);
  }
}

void require_false(FieldReader& r, const char* key, absl::string_view why) {
  if (r.optional_bool(key, false)) {
    r.fail(absl::StrCat(key, " = true is not supported: ", why), absl::StatusCode::kUnimplemented);
  }
}

// LLaDA's configuration_llada.py (OLMo lineage) names.
void parse_llada(FieldReader& r, ModelConfig* c) {
  c->family = ModelFamily::kLlada;
  c->hidden_size = r.required_int("d_model");
  c->num_layers = r.required_int("n_layers");
  c->num_heads = r.required_int("n_heads");
  // OLMo's effective_n_kv_heads: explicit, else 1 with multi_query_attention, else n_heads.
  const int kv_fallback = r.optional_bool("multi_query_attention", false) ? 1 : c->num_heads;
  c->num_kv_heads = r.optional_int("n_kv_heads", kv_fallback);
  // mlp_ratio × d_model in 64 bits: a hostile ratio must be an error, not an int overflow.
  const int64_t ratio_width = static_cast<int64_t>(r.optional_int("mlp_ratio", 4)) * c->hidden_size;
  if (r.has("mlp_hidden_size")) {
    c->intermediate_size = r.optional_int("mlp_hidden_size", 0);
  } else if (ratio_width < INT_MIN || ratio_width > INT_MAX) {
    r.fail(absl::StrCat("mlp_ratio * d_model = ", ratio_width, " is outside the int32 range"));
  } else {
    c->intermediate_size = static_cast<int>(ratio_width);
  }
  c->vocab_size = r.required_int("vocab_size");
  c->embedding_rows = r.optional_int("embedding_size", c->vocab_size);
  c->rms_norm_eps = r.optional_double("rms_norm_eps", 1e-5);
  c->rope_theta = r.optional_double("rope_theta", 10000.0);
  // include_bias also puts biases on attn_out, the MLP and the LM head, which the engine's
  // layer weights do not carry; include_qkv_bias alone is the Qwen-style q/k/v bias.
  require_false(r, "include_bias", "biases on attn_out / ff_* / LM head");
  c->qkv_bias = r.optional_bool("include_qkv_bias", false);
  c->tie_word_embeddings = r.optional_bool("weight_tying", false);
  c->max_position_embeddings = r.optional_int("max_sequence_length", 4096);
  c->mask_token_id = r.token_id("mask_token_id", kLladaMask);
  const int rows = c->embedding_rows;
  auto known = [rows](int id) { return id < rows ? id : -1; };
  c->eos_token_id = r.token_id("eos_token_id", known(kLladaEos));
  c->pad_token_id = r.token_id("pad_token_id", -1);
  c->bos_token_id = r.token_id("bos_token_id", known(kLladaBos));
  c->eot_token_id = r.token_id("eot_token_id", known(kLladaEot));
  require_string(r, "block_type", "llama");
  require_string(r, "layer_norm_type", "rms");
  require_string(r, "activation_type", "silu");
  require_false(r, "alibi", "the engine implements RoPE only");
  if (!r.optional_bool("rope", true)) {
    r.fail("rope = false is not supported", absl::StatusCode::kUnimplemented);
  }
  if (r.optional_bool("layer_norm_with_affine", true)) {
    require_false(r, "bias_for_layer_norm", "RMSNorm has weights only");
  }
}

// Dream's configuration_dream.py (= Qwen2) names.
void parse_dream(FieldReader& r, ModelConfig* c) {
  c->family = ModelFamily::kDream;
  c->hidden_size = r.required_int("hidden_size");
  c->num_layers = r.required_int("num_hidden_layers");
  c->num_heads = r.required_int("num_attention_heads");
  c->num_kv_heads = r.optional_int("num_key_value_heads", c->num_heads);
  c->intermediate_size = r.required_int("intermediate_size");
  c->vocab_size = r.required_int("vocab_size");
  c->embedding_rows = c->vocab_size;
  c->rms_norm_eps = r.optional_double("rms_norm_eps", 1e-6);
  c->rope_theta = r.optional_double("rope_theta", 10000.0);
  c->qkv_bias = true;  // Qwen2 attention always has q/k/v biases
  c->tie_word_embeddings = r.optional_bool("tie_word_embeddings", false);
  c->max_position_embeddings = r.optional_int("max_position_embeddings", 32768);
  c->mask_token_id = r.token_id("mask_token_id", kDreamMask);
  c->eos_token_id = r.token_id("eos_token_id", -1);
  c->pad_token_id = r.token_id("pad_token_id", -1);
  c->bos_token_id = r.token_id("bos_token_id", -1);
  c->eot_token_id = r.token_id("eot_token_id", -1);
  require_string(r, "hidden_act", "silu");
  require_false(r, "use_sliding_window", "attention is dense over the whole sequence");
}

void validate(FieldReader& r, ModelConfig* c) {
  auto positive = [&r](const char* what, int v) {
    if (v <= 0) r.fail(absl::StrCat(what, " must be positive, got ", v));
  };
  positive("hidden size", c->hidden_size);
  positive("number of layers", c->num_layers);
  positive("number of attention heads", c->num_heads);
  positive("number of key/value heads", c->num_kv_heads);
  positive("MLP hidden size", c->intermediate_size);
  positive("vocab_size", c->vocab_size);
  positive("max position embeddings", c->max_position_embeddings);
  if (!r.status().ok()) return;
  if (c->hidden_size % c->num_heads != 0) {
    r.fail(absl::StrCat("hidden size ", c->hidden_size, " is not divisible by ", c->num_heads,
                        " heads"));
    return;
  }
  if (c->num_heads % c->num_kv_heads != 0) {
    r.fail(absl::StrCat(c->num_heads, " heads are not divisible by ", c->num_kv_heads,
                        " key/value heads"));
    return;
  }
  c->head_dim = c->hidden_size / c->num_heads;
  if (r.has("head_dim") && r.optional_int("head_dim", 0) != c->head_dim) {
    r.fail(absl::StrCat("head_dim differs from hidden size / heads = ", c->head_dim),
           absl::StatusCode::kUnimplemented);
  }
  if (c->head_dim % 2 != 0) {
    r.fail(absl::StrCat("head_dim ", c->head_dim, " is odd; RoPE needs an even head_dim"));
  }
  const std::string& type = c->rope_scaling.type;
  if ((type == "dynamic" || type == "ntk") && c->head_dim <= 2) {
    r.fail("NTK rope scaling needs head_dim > 2");
  }
  if (c->embedding_rows < c->vocab_size) {
    r.fail(absl::StrCat("embedding_size ", c->embedding_rows, " is smaller than vocab_size ",
                        c->vocab_size));
  }
  if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0) || !std::isfinite(c->rope_theta)) {
    r.fail("rms_norm_eps and rope_theta must be positive");
  }
  auto id_in_range = [&](const char* what, int id, bool required) {
    if ((required || id != -1) && (id < 0 || id >= c->embedding_rows)) {
      r.fail(absl::StrCat(what, " ", id, " is outside the ", c->embedding_rows, " embedding rows"));
    }
  };
  id_in_range("mask_token_id", c->mask_token_id, /*required=*/true);
  id_in_range("eos_token_id", c->eos_token_id, false);
  id_in_range("pad_token_id", c->pad_token_id, false);
  id_in_range("bos_token_id", c->bos_token_id, false);
  id_in_range("eot_token_id", c->eot_token_id, false);
}

}  // namespace

absl::StatusOr<ModelConfig> parse_model_config(const std::string& json_text,
                                               const std::string& source) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": top level is not a JSON object"));
  }
  FieldReader r(root, source);
  ModelConfig c;
  c.model_type = r.optional_string("model_type", "");
  if (!r.status().ok()) return r.status();
  const std::string lowered = absl::AsciiStrToLower(c.model_type);
  if (lowered == "llada") {
    parse_llada(r, &c);
  } else if (lowered == "dream") {
    parse_dream(r, &c);
  } else if (c.model_type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing 'model_type'"));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(source, ": unknown model_type '", c.model_type,
                                                   "' (supported: llada, Dream)"));
  }
  // transformers 5 moves rope_theta and the scaling into "rope_parameters".
  auto params = root.find("rope_parameters");
  if (params != root.end() && params->is_object()) {
    FieldReader p(*params, source, "rope_parameters.");
    c.rope_theta = p.optional_double("rope_theta", c.rope_theta);
    r.adopt(p.status());
    parse_rope_scaling(*params, r, &c.rope_scaling);
  }
  auto scaling = root.find("rope_scaling");
  if (scaling != root.end() && !scaling->is_null())
    parse_rope_scaling(*scaling, r, &c.rope_scaling);
  c.torch_dtype = parse_torch_dtype(r);
  if (r.status().ok()) validate(r, &c);
  if (!r.status().ok()) return r.status();
  return c;
}

absl::StatusOr<ModelConfig> load_model_config(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return parse_model_config(text.str(), path);
}

// NTK-aware scaling (ntk, dynamic) raises the base θ; we compute it once, statically:
//  - "ntk":     θ' = θ·α^(d/(d−2))  (the original NTK-aware rule; LongLLaDA's form).
//  - "dynamic": θ' = θ·(α·L/L0 − (α−1))^(d/(d−2)) evaluated at L = α·L0, i.e.
//               θ·(α² − α + 1)^(d/(d−2)), as vLLM does. Hugging Face instead re-derives θ from
//               the current sequence length, which would make a chunk's cached K depend on the
//               length of the request that produced it; the engine reuses chunk K/V across
//               requests, so RoPE must be one fixed function of position.
// "linear" divides every frequency by α; "llama3" is Llama 3.1's wavelength-banded rule.
std::vector<double> ModelConfig::rope_inv_freq() const {
  const int d = head_dim;
  const int half = d / 2;
  const RopeScaling& s = rope_scaling;
  double theta = rope_theta;
  if (s.type == "ntk" && d > 2) {
    theta *= std::pow(s.factor, static_cast<double>(d) / (d - 2));
  } else if (s.type == "dynamic" && d > 2) {
    theta *= std::pow(s.factor * s.factor - (s.factor - 1.0), static_cast<double>(d) / (d - 2));
  }
  std::vector<double> inv(half);
  for (int i = 0; i < half; ++i) {
    inv[i] = 1.0 / std::pow(theta, static_cast<double>(2 * i) / d);
  }
  if (s.type == "linear") {
    for (double& f : inv) f /= s.factor;
  } else if (s.type == "llama3") {
    const double old_len = s.original_max_position;
    const double low_freq_wavelen = old_len / s.low_freq_factor;
    const double high_freq_wavelen = old_len / s.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;  // long wavelengths: interpolate fully
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth =
            (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }  // short wavelengths stay as trained
    }
  }
  return inv;
}

}  // namespace dllm
