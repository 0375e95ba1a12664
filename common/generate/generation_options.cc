// Names and validation of GenerationOptions.
#include "common/generate/generation_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dllm {
namespace {

struct SamplerName {
  Sampler sampler;
  const char* name;
};
constexpr SamplerName kSamplerNames[] = {
    {Sampler::kLladaLowConfidence, "low_confidence"},
    {Sampler::kLladaRandom, "random"},
    {Sampler::kDreamOrigin, "origin"},
    {Sampler::kDreamMaskgitPlus, "maskgit_plus"},
    {Sampler::kDreamTopkMargin, "topk_margin"},
    {Sampler::kDreamEntropy, "entropy"},
};

absl::Status invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("generation options: ", what));
}

bool in_range(int32_t id, int width) { return id >= 0 && id < width; }

}  // namespace

bool is_dream_sampler(Sampler sampler) {
  return sampler != Sampler::kLladaLowConfidence && sampler != Sampler::kLladaRandom;
}

ModelFamily sampler_family(Sampler sampler) {
  return is_dream_sampler(sampler) ? ModelFamily::kDream : ModelFamily::kLlada;
}

absl::StatusOr<Sampler> parse_sampler(std::string_view name) {
  for (const SamplerName& entry : kSamplerNames) {
    const std::string prefixed =
        absl::StrCat(is_dream_sampler(entry.sampler) ? "dream_" : "llada_", entry.name);
    if (name == entry.name || name == prefixed) return entry.sampler;
  }
  std::vector<std::string> known;
  for (const SamplerName& entry : kSamplerNames) known.push_back(entry.name);
  return absl::InvalidArgumentError(absl::StrCat("unknown sampler '", std::string(name),
                                                 "' (known: ", absl::StrJoin(known, ", "), ")"));
}

const char* sampler_name(Sampler sampler) {
  for (const SamplerName& entry : kSamplerNames) {
    if (entry.sampler == sampler) return entry.name;
  }
  return "?";
}

absl::StatusOr<KvCacheMode> parse_kv_cache_mode(std::string_view name) {
  if (name == "none") return KvCacheMode::kNone;
  if (name == "prefix") return KvCacheMode::kPrefix;
  if (name == "dual") return KvCacheMode::kDual;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown cache mode '", std::string(name), "' (known: none, prefix, dual)"));
}

const char* kv_cache_mode_name(KvCacheMode mode) {
  switch (mode) {
    case KvCacheMode::kNone:
      return "none";
    case KvCacheMode::kPrefix:
      return "prefix";
    case KvCacheMode::kDual:
      return "dual";
  }
  return "?";
}

int logits_width(const ModelConfig& config) {
  return config.embedding_rows > 0 ? config.embedding_rows : config.vocab_size;
}

std::vector<int32_t> resolve_stop_tokens(const GenerationOptions& options,
                                         const ModelConfig& config) {
  if (!options.stop_token_ids.empty()) return options.stop_token_ids;
  std::vector<int32_t> stops;
  if (config.eos_token_id >= 0) stops.push_back(config.eos_token_id);
  if (config.eot_token_id >= 0 && config.eot_token_id != config.eos_token_id) {
    stops.push_back(config.eot_token_id);
  }
  return stops;
}

absl::Status validate_generation_options(const GenerationOptions& o, const ModelConfig& config) {
  const bool dream = is_dream_sampler(o.sampler);
  const int width = logits_width(config);
  if (sampler_family(o.sampler) != config.family) {
    return invalid(absl::StrCat("sampler '", sampler_name(o.sampler), "' is for ",
                                dream ? "Dream" : "LLaDA", " models, the model is ",
                                config.family == ModelFamily::kDream ? "Dream" : "LLaDA"));
  }
  if (width <= 0) return invalid("the model config has no vocabulary size");
  if (!in_range(config.mask_token_id, width)) {
    return invalid(absl::StrCat("the model's mask_token_id ", config.mask_token_id,
                                " is not a token id below ", width));
  }
  if (o.gen_length <= 0) return invalid(absl::StrCat("gen_length ", o.gen_length, " must be > 0"));
  if (o.block_length < 0) {
    return invalid(absl::StrCat("block_length ", o.block_length, " must be >= 0 (0 = one block)"));
  }
  const int block_length = o.block_length == 0 ? o.gen_length : o.block_length;
  if (o.gen_length % block_length != 0) {
    return invalid(absl::StrCat("gen_length ", o.gen_length, " is not a multiple of block_length ",
                                block_length));
  }
  const int num_blocks = o.gen_length / block_length;
  // Written as negations so that NaN fails every range check.
  if (!(o.threshold == 0.0 || (o.threshold > 0.0 && o.threshold <= 1.0))) {
    return invalid(absl::StrCat("threshold ", o.threshold, " must be 0 (off) or in (0, 1]"));
  }
  if (o.threshold > 0.0) {
    if (o.sampler == Sampler::kLladaRandom || o.sampler == Sampler::kDreamOrigin ||
        o.sampler == Sampler::kDreamEntropy) {
      return invalid(absl::StrCat(
          "threshold decoding needs a probability-like confidence; sampler '",
          sampler_name(o.sampler), "' has none (use low_confidence, maskgit_plus or topk_margin)"));
    }
    if (o.alg_temp != 0.0) return invalid("alg_temp does not apply to threshold decoding");
  } else {
    if (o.steps <= 0) return invalid(absl::StrCat("steps ", o.steps, " must be > 0"));
    if (o.steps % num_blocks != 0) {
      return invalid(absl::StrCat("steps ", o.steps, " is not divisible by the number of blocks ",
                                  num_blocks, " (gen_length ", o.gen_length, " / block_length ",
                                  block_length, ")"));
    }
  }
  if (!(o.temperature >= 0.0) || std::isinf(o.temperature)) {
    return invalid(absl::StrCat("temperature ", o.temperature, " must be finite and >= 0"));
  }
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) {
    return invalid(absl::StrCat("top_p ", o.top_p, " must be in (0, 1]"));
  }
  if (o.top_k < 0) return invalid(absl::StrCat("top_k ", o.top_k, " must be >= 0 (0 = off)"));
  if (!dream && (o.top_p != 1.0 || o.top_k != 0)) {
    return invalid("top_p / top_k apply to Dream samplers only (LLaDA samples with Gumbel noise)");
  }
  if (!(o.cfg_scale >= 0.0) || std::isinf(o.cfg_scale)) {
    return invalid(absl::StrCat("cfg_scale ", o.cfg_scale, " must be finite and >= 0"));
  }
  if (dream && o.cfg_scale != 0.0) return invalid("cfg_scale applies to LLaDA samplers only");
  if (dream && !(o.eps > 0.0 && o.eps < 1.0)) {
    return invalid(absl::StrCat("eps ", o.eps, " must be in (0, 1)"));
  }
  if (!(o.alg_temp >= 0.0) || std::isinf(o.alg_temp)) {
    return invalid(absl::StrCat("alg_temp ", o.alg_temp, " must be finite and >= 0"));
  }
  if (!dream && o.alg_temp != 0.0) return invalid("alg_temp applies to Dream samplers only");
  for (int32_t id : o.stop_token_ids) {
    if (!in_range(id, width)) {
      return invalid(absl::StrCat("stop token id ", id, " is out of range [0, ", width, ")"));
    }
  }
  if ((o.truncate_at_stop || o.stop_after_stop_block) && resolve_stop_tokens(o, config).empty()) {
    return invalid(
        "stopping at EOS was asked but neither stop_token_ids nor the model's EOS/EoT "
        "are known");
  }
  return absl::OkStatus();
}

absl::Status validate_prompt(std::span<const int32_t> prompt, const ModelConfig& config) {
  if (prompt.empty()) return absl::InvalidArgumentError("prompt: empty (need at least one token)");
  const int width = logits_width(config);
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (!in_range(prompt[i], width)) {
      return absl::InvalidArgumentError(absl::StrCat("prompt: id ", prompt[i], " at position ", i,
                                                     " is out of range [0, ", width, ")"));
    }
    // The schedules only count masks of the generated region; a masked prompt slot would be
    // decoded by no rule anyone asked for.
    if (prompt[i] == config.mask_token_id) {
      return absl::InvalidArgumentError(absl::StrCat("prompt: position ", i,
                                                     " holds the mask token ", prompt[i],
                                                     " (infilling is not supported)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace dllm
