// CheckpointWeights: maps a checkpoint's safetensors (one file or an index + shards) and checks
// every tensor against the ModelConfig before handing out views.
#include "common/model/weights.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dllm {
namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// Tensor names of one layer, in LayerWeights order; bias names are empty without qkv_bias.
struct LayerNames {
  std::string attn_norm, q, k, v, q_bias, k_bias, v_bias, o, ffn_norm, gate, up, down;
};
struct ModelNames {
  std::string embedding, final_norm, lm_head;  // lm_head empty when tied
  std::vector<LayerNames> layers;
};

// The one place that knows each family's Hugging Face tensor names.
ModelNames model_names(const ModelConfig& c) {
  ModelNames n;
  const bool llada = c.family == ModelFamily::kLlada;
  n.embedding = llada ? "model.transformer.wte.weight" : "model.embed_tokens.weight";
  n.final_norm = llada ? "model.transformer.ln_f.weight" : "model.norm.weight";
  if (!c.tie_word_embeddings) {
    n.lm_head = llada ? "model.transformer.ff_out.weight" : "lm_head.weight";
  }
  for (int i = 0; i < c.num_layers; ++i) {
    LayerNames l;
    if (llada) {
      const std::string p = absl::StrCat("model.transformer.blocks.", i, ".");
      l = {p + "attn_norm.weight", p + "q_proj.weight",   p + "k_proj.weight",
           p + "v_proj.weight",    p + "q_proj.bias",     p + "k_proj.bias",
           p + "v_proj.bias",      p + "attn_out.weight", p + "ff_norm.weight",
           p + "ff_proj.weight",   p + "up_proj.weight",  p + "ff_out.weight"};
    } else {
      const std::string p = absl::StrCat("model.layers.", i, ".");
      const std::string a = p + "self_attn.";
      l = {p + "input_layernorm.weight",
           a + "q_proj.weight",
           a + "k_proj.weight",
           a + "v_proj.weight",
           a + "q_proj.bias",
           a + "k_proj.bias",
           a + "v_proj.bias",
           a + "o_proj.weight",
           p + "post_attention_layernorm.weight",
           p + "mlp.gate_proj.weight",
           p + "mlp.up_proj.weight",
           p + "mlp.down_proj.weight"};
    }
    if (!c.qkv_bias) l.q_bias = l.k_bias = l.v_bias = "";
    n.layers.push_back(std::move(l));
  }
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

bool is_float(TensorDType t) {
  return t == TensorDType::kF32 || t == TensorDType::kBF16 || t == TensorDType::kF16;
}

kernels::DType to_kernel_dtype(TensorDType t) {
  switch (t) {
    case TensorDType::kBF16:
      return kernels::DType::kBF16;
    case TensorDType::kF16:
      return kernels::DType::kF16;
    default:
      return kernels::DType::kF32;
  }
}

kernels::WeightView view_of(const TensorInfo& t) {
  kernels::WeightView v;
  v.data = t.data;
  v.dtype = to_kernel_dtype(t.dtype);
  v.rows = t.shape.size() == 2 ? t.shape[0] : 1;
  v.cols = t.shape.back();
  return v;
}

// Where a tensor was found: its header entry and the file that holds it.
struct Located {
  const TensorInfo* info = nullptr;
  const std::string* file = nullptr;
};

absl::StatusOr<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return text.str();
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> parse_safetensors_index(
    const std::string& json_text, const std::string& source) {
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(source, ": invalid JSON: ", e.what()));
  }
  auto map = index.is_object() ? index.find("weight_map") : index.end();
  if (map == index.end() || !map->is_object()) {
    return absl::DataLossError(absl::StrCat(source, ": no 'weight_map' object"));
  }
  std::map<std::string, std::string> out;
  for (auto it = map->begin(); it != map->end(); ++it) {
    const std::string shard = it->is_string() ? it->get<std::string>() : "";
    // Shards live beside the index; a path component could reach outside the model directory.
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos) {
      return absl::DataLossError(absl::StrCat(source, ": tensor '", it.key(), "': shard '", shard,
                                              "' is not a file name"));
    }
    out[it.key()] = shard;
  }
  return out;
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t q_out = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv_out = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  const int64_t inter = c.intermediate_size;
  const int64_t rows = c.embedding_rows;
  const ModelNames n = model_names(c);
  std::vector<ExpectedTensor> out;
  out.push_back({n.embedding, {rows, d}});
  for (const LayerNames& l : n.layers) {
    out.push_back({l.attn_norm, {d}});
    out.push_back({l.q, {q_out, d}});
    out.push_back({l.k, {kv_out, d}});
    out.push_back({l.v, {kv_out, d}});
    if (c.qkv_bias) {
      out.push_back({l.q_bias, {q_out}});
      out.push_back({l.k_bias, {kv_out}});
      out.push_back({l.v_bias, {kv_out}});
    }
    out.push_back({l.o, {d, q_out}});
    out.push_back({l.ffn_norm, {d}});
    out.push_back({l.gate, {inter, d}});
    out.push_back({l.up, {inter, d}});
    out.push_back({l.down, {d, inter}});
  }
  out.push_back({n.final_norm, {d}});
  if (!n.lm_head.empty()) out.push_back({n.lm_head, {rows, d}});
  return out;
}

absl::StatusOr<std::unique_ptr<CheckpointWeights>> CheckpointWeights::load(
    const std::string& model_dir, const ModelConfig& config) {
  auto weights = std::make_unique<CheckpointWeights>();
  std::map<std::string, Located> found;
  std::string listing;  // the file that names the checkpoint's tensors, for messages
  const std::string single = model_dir + "/" + kSingleFile;
  const std::string index = model_dir + "/" + kIndexFile;
  std::error_code ec;
  // Hugging Face prefers the single file when both exist; so do we.
  if (std::filesystem::exists(single, ec)) {
    listing = single;
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::open(single);
    if (!file.ok()) return file.status();
    weights->files_.push_back(std::move(*file));
    for (const auto& [name, info] : weights->files_.back()->tensors()) {
      found[name] = {&info, &weights->files_.back()->path()};
    }
  } else if (std::filesystem::exists(index, ec)) {
    listing = index;
    absl::StatusOr<std::string> index_text = read_text(index);
    if (!index_text.ok()) return index_text.status();
    absl::StatusOr<std::map<std::string, std::string>> weight_map =
        parse_safetensors_index(*index_text, index);
    if (!weight_map.ok()) return weight_map.status();
    std::map<std::string, std::vector<std::string>> by_shard;
    for (const auto& [name, shard] : *weight_map) by_shard[shard].push_back(name);
    for (const auto& [shard, names] : by_shard) {
      absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
          SafetensorsFile::open(model_dir + "/" + shard);
      if (!file.ok()) {
        return absl::Status(file.status().code(),
                            absl::StrCat(index, ": shard '", shard, "' (holds tensor '",
                                         names.front(), "'): ", file.status().message()));
      }
      weights->files_.push_back(std::move(*file));
      const SafetensorsFile& f = *weights->files_.back();
      for (const std::string& name : names) {
        const TensorInfo* info = f.find(name);
        if (info == nullptr) {
          return absl::DataLossError(absl::StrCat(f.path(), ": tensor '", name, "' listed in ",
                                                  index, " is missing from this shard"));
        }
        found[name] = {info, &f.path()};
      }
      // A tensor the index does not send here would be ignored silently; refuse it instead.
      for (const auto& [name, info] : f.tensors()) {
        auto listed = weight_map->find(name);
        if (listed == weight_map->end() || listed->second != shard) {
          return absl::DataLossError(absl::StrCat(f.path(), ": tensor '", name,
                                                  "' is not listed for this shard in ", index));
        }
      }
    }
  } else {
    return absl::NotFoundError(
        absl::StrCat(model_dir, ": neither ", kSingleFile, " nor ", kIndexFile, " found"));
  }

  const std::vector<ExpectedTensor> expected = expected_tensors(config);
  std::set<std::string> expected_names;
  std::vector<std::string> missing;
  for (const ExpectedTensor& e : expected) {
    expected_names.insert(e.name);
    if (found.count(e.name) == 0) missing.push_back(e.name);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        listing, ": missing tensor '", missing.front(), "'",
        missing.size() > 1 ? absl::StrCat(" (and ", missing.size() - 1, " more)") : ""));
  }
  for (const auto& [name, where] : found) {
    if (expected_names.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          *where.file, ": unexpected tensor '", name, "' (not part of this ", config.model_type,
          " config", config.tie_word_embeddings ? " with tied embeddings" : "", ")"));
    }
  }
  for (const ExpectedTensor& e : expected) {
    const Located& at = found[e.name];
    const TensorInfo& t = *at.info;
    const std::string where = absl::StrCat(*at.file, ": tensor '", e.name, "': ");
    if (t.shape != e.shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, "shape ", shape_string(t.shape),
                                                     ", expected ", shape_string(e.shape)));
    }
    if (!is_float(t.dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "dtype ", tensor_dtype_name(t.dtype), " is not F32, BF16 or F16"));
    }
    // Kernels read the mapping through typed pointers; a misaligned element is UB there.
    if (reinterpret_cast<uintptr_t>(t.data) % tensor_dtype_size(t.dtype) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "data is not ", tensor_dtype_size(t.dtype), "-byte aligned in the file"));
    }
    weights->total_bytes_ += t.nbytes;
    weights->num_parameters_ += static_cast<size_t>(t.numel());
  }

  const ModelNames n = model_names(config);
  auto view = [&found](const std::string& name) {
    return name.empty() ? kernels::WeightView{} : view_of(*found.at(name).info);
  };
  ModelWeights& v = weights->views_;
  v.embedding = view(n.embedding);
  v.final_norm = view(n.final_norm);
  v.lm_head = n.lm_head.empty() ? v.embedding : view(n.lm_head);
  for (const LayerNames& l : n.layers) {
    v.layers.push_back({view(l.attn_norm), view(l.q), view(l.k), view(l.v), view(l.q_bias),
                        view(l.k_bias), view(l.v_bias), view(l.o), view(l.ffn_norm), view(l.gate),
                        view(l.up), view(l.down)});
  }
  return weights;
}

}  // namespace dllm
