// One request's denoising loop: LLaDA / Dream schedules, threshold decoding, block K/V cache.
#include "common/generate/denoising_sequence.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/generate/position_selection.h"
#include "common/generate/transfer_schedule.h"

namespace dllm {
namespace {

DreamScore dream_score(Sampler sampler) {
  switch (sampler) {
    case Sampler::kDreamTopkMargin:
      return DreamScore::kMargin;
    case Sampler::kDreamEntropy:
      return DreamScore::kNegEntropy;
    default:
      return DreamScore::kMaxProb;
  }
}

bool contains(const std::vector<int32_t>& ids, int32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

DenoisingSequence::DenoisingSequence(const GenerationOptions& options, const ModelConfig& config)
    : options_(options),
      dream_(is_dream_sampler(options.sampler)),
      mask_id_(config.mask_token_id),
      width_(logits_width(config)),
      stop_tokens_(resolve_stop_tokens(options, config)),
      rng_(options.seed) {}

absl::StatusOr<std::unique_ptr<DenoisingSequence>> DenoisingSequence::create(
    LanguageModel& model, std::span<const int32_t> prompt, std::span<const uint8_t> prompt_mask,
    const GenerationOptions& options, BlockCallback on_block) {
  const ModelConfig& config = model.config();
  if (absl::Status s = validate_generation_options(options, config); !s.ok()) return s;
  if (absl::Status s = validate_prompt(prompt, config); !s.ok()) return s;
  if (!prompt_mask.empty() && prompt_mask.size() != prompt.size()) {
    return absl::InvalidArgumentError(absl::StrCat("attention mask has ", prompt_mask.size(),
                                                   " entries for ", prompt.size(), " prompt ids"));
  }
  const bool padded = std::find(prompt_mask.begin(), prompt_mask.end(), 0) != prompt_mask.end();
  if (padded && std::find(prompt_mask.begin(), prompt_mask.end(), 1) == prompt_mask.end()) {
    return absl::InvalidArgumentError("attention mask: a row has no real (non-padding) token");
  }
  if (padded && is_dream_sampler(options.sampler) && options.cache != KvCacheMode::kNone) {
    return absl::InvalidArgumentError(
        "Dream with a padded prompt and a K/V cache: tok_idx repeats positions, which cache "
        "slots cannot; pass the prompt unpadded (ragged batch)");
  }

  auto seq = std::unique_ptr<DenoisingSequence>(new DenoisingSequence(options, config));
  seq->on_block_ = std::move(on_block);
  const int prompt_len = static_cast<int>(prompt.size());
  const int seq_len = prompt_len + options.gen_length;
  seq->gen_start_ = prompt_len;
  seq->x_.assign(prompt.begin(), prompt.end());
  seq->x_.resize(seq_len, seq->mask_id_);
  seq->positions_.resize(seq_len);
  if (padded) {
    seq->key_mask_.assign(prompt_mask.begin(), prompt_mask.end());
    seq->key_mask_.resize(seq_len, 1);
  }
  // Dream's tok_idx = cumsum(mask) - 1, padding slots at 1; LLaDA's model ignores padding for
  // positions and counts every slot.
  int real_seen = 0;
  for (int i = 0; i < seq_len; ++i) {
    if (padded && seq->dream_) {
      const bool real = seq->key_mask_[i] != 0;
      real_seen += real ? 1 : 0;
      seq->positions_[i] = real ? real_seen - 1 : 1;
    } else {
      seq->positions_[i] = i;
    }
  }
  seq->block_length_ = options.block_length == 0 ? options.gen_length : options.block_length;
  seq->num_blocks_ = options.gen_length / seq->block_length_;
  seq->steps_per_block_ = options.threshold > 0.0 ? 0 : options.steps / seq->num_blocks_;
  if (seq->dream_ && seq->steps_per_block_ > 0) {
    seq->timesteps_ = dream_timesteps(seq->steps_per_block_, static_cast<float>(options.eps));
  }
  if (options.cache != KvCacheMode::kNone) {
    absl::StatusOr<std::unique_ptr<KvCache>> cache = model.new_kv_cache(seq_len);
    if (!cache.ok()) return cache.status();
    seq->cache_ = std::move(*cache);
    if (options.cfg_scale > 0.0) {
      absl::StatusOr<std::unique_ptr<KvCache>> uncond = model.new_kv_cache(seq_len);
      if (!uncond.ok()) return uncond.status();
      seq->uncond_cache_ = std::move(*uncond);
    }
  }
  seq->start_block();
  return seq;
}

absl::StatusOr<std::unique_ptr<DenoisingSequence>> DenoisingSequence::create_with_frozen_prompt(
    LanguageModel& model, std::span<const int32_t> prompt, const GenerationOptions& options,
    FrozenPromptCache frozen, BlockCallback on_block) {
  const int prompt_len = static_cast<int>(prompt.size());
  if (frozen.cache == nullptr) return absl::InvalidArgumentError("frozen prompt: no cache");
  if (frozen.frozen_len < 0 || frozen.frozen_len >= prompt_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frozen prompt: frozen_len ", frozen.frozen_len, " must be in [0, ", prompt_len,
        ") (at least the last prompt row runs, it predicts the first generated one)"));
  }
  if (frozen.cache->capacity() < prompt_len + options.gen_length) {
    return absl::InvalidArgumentError(absl::StrCat("frozen prompt: cache of ",
                                                   frozen.cache->capacity(), " slots for ",
                                                   prompt_len + options.gen_length));
  }
  if (options.cfg_scale > 0.0) {
    return absl::InvalidArgumentError(
        "frozen prompt: cfg needs the prompt re-encoded as masks, which a frozen cache cannot");
  }
  // Built without a cache of its own, then handed the frozen one.
  GenerationOptions own = options;
  own.cache = KvCacheMode::kNone;
  auto seq = create(model, prompt, {}, own, std::move(on_block));
  if (!seq.ok()) return seq.status();
  (*seq)->options_.cache = options.cache;
  (*seq)->cache_ = std::move(frozen.cache);
  (*seq)->frozen_len_ = frozen.frozen_len;
  (*seq)->start_block();
  return seq;
}

std::vector<int> DenoisingSequence::masked_in_block() const {
  std::vector<int> masked;
  for (int p = block_begin(); p < block_end(); ++p) {
    if (x_[p] == mask_id_) masked.push_back(p);
  }
  return masked;
}

void DenoisingSequence::start_block() {
  step_ = 0;
  entry_pending_ = options_.cache != KvCacheMode::kNone;
  if (!dream_ && steps_per_block_ > 0) {
    block_counts_ =
        llada_transfer_counts(static_cast<int>(masked_in_block().size()), steps_per_block_);
  }
}

int DenoisingSequence::planned_transfer_count() const {
  if (steps_per_block_ == 0 || options_.sampler == Sampler::kDreamOrigin) return -1;
  if (!dream_) return block_counts_[step_];
  return dream_transfer_count(static_cast<int>(masked_in_block().size()), timesteps_, step_);
}

absl::Status DenoisingSequence::resume_after_blocks(std::span<const int32_t> committed) {
  if (block_ != 0 || step_ != 0 || result_.counters.steps != 0)
    return absl::FailedPreconditionError("resume: the sequence has already stepped");
  if (committed.size() % static_cast<size_t>(block_length_) != 0 ||
      committed.size() > static_cast<size_t>(num_blocks_) * block_length_)
    return absl::InvalidArgumentError(absl::StrCat(
        "resume: ", committed.size(), " committed ids are not whole blocks of ", block_length_,
        " within ", num_blocks_, " blocks"));
  for (int32_t id : committed)
    if (id < 0 || id == mask_id_ || id >= width_)
      return absl::InvalidArgumentError(absl::StrCat("resume: committed id ", id, " is invalid"));
  std::copy(committed.begin(), committed.end(), x_.begin() + gen_start_);
  block_ = static_cast<int>(committed.size()) / block_length_;
  if (block_ == num_blocks_) {
    finished_ = true;
    return absl::OkStatus();
  }
  start_block();
  return absl::OkStatus();
}

bool resumable_schedule(const GenerationOptions& o) {
  return o.temperature == 0.0 && o.alg_temp == 0.0 && o.sampler != Sampler::kLladaRandom &&
         o.sampler != Sampler::kDreamOrigin;
}

void DenoisingSequence::stop_if_requested() {
  if (finished_ || !options_.should_stop || !options_.should_stop()) return;
  finished_ = true;
  result_.cancelled = true;
}

void DenoisingSequence::plan_step(std::vector<SequenceForward>* batch) {
  planned_forwards_ = 0;
  // A step that commits nothing cannot change the sequence, so it runs no forward (the
  // reference runs one and discards it); it still counts and is traced, so traces stay aligned
  // with the reference step for step.
  while (!finished_ && planned_transfer_count() == 0) finish_step(0);
  if (finished_) return;

  const bool entry = entry_pending_;
  rows_ = plan_forward_rows(options_.cache, entry_pending_, dream_, block_begin(), block_end(),
                            static_cast<int>(x_.size()), frozen_len_);
  entry_pending_ = false;
  logit_positions_ = masked_in_block();
  logit_rows_.clear();
  focus_slots_.clear();
  if (row_focus_ != nullptr && rows_.use_cache) {
    focus_slots_ = row_focus_->choose_rows({entry, block_begin(), block_end(),
                                            static_cast<int>(x_.size()), logit_positions_,
                                            planned_transfer_count()});
  }
  int num_rows = rows_.end - rows_.begin;
  SequenceForward forward;
  if (focus_slots_.empty()) {
    for (int p : logit_positions_) logit_rows_.push_back(logit_row_for(p, dream_, rows_));
    forward.ids = std::span<const int32_t>(x_).subspan(rows_.begin, num_rows);
    forward.positions = std::span<const int32_t>(positions_).subspan(rows_.begin, num_rows);
  } else {
    // Only the chosen rows run; logits for the masked positions whose predicting row is among them.
    std::vector<int> kept;
    for (int p : logit_positions_) {
      const int source = dream_ ? std::max(p - 1, 0) : p;
      auto it = std::lower_bound(focus_slots_.begin(), focus_slots_.end(), source);
      if (it == focus_slots_.end() || *it != source) continue;
      kept.push_back(p);
      logit_rows_.push_back(static_cast<int32_t>(it - focus_slots_.begin()));
    }
    logit_positions_ = std::move(kept);
    focus_ids_.clear();
    focus_positions_.clear();
    for (int32_t s : focus_slots_) {
      focus_ids_.push_back(x_[s]);
      focus_positions_.push_back(positions_[s]);
    }
    num_rows = static_cast<int>(focus_slots_.size());
    forward.ids = focus_ids_;
    forward.positions = focus_positions_;
    forward.slots = focus_slots_;
  }
  forward.cache = rows_.use_cache ? cache_.get() : nullptr;
  forward.attend_len = rows_.use_cache ? rows_.attend_len : 0;
  forward.key_mask = key_mask_;  // keys are all slots, with or without the cache
  forward.logit_rows = logit_rows_;
  if (row_focus_ != nullptr && rows_.use_cache)
    row_focus_->decorate(logit_positions_, logit_rows_, &forward);
  batch->push_back(forward);
  planned_forwards_ = 1;
  if (options_.cfg_scale > 0.0) {
    // LLaDA's unsupervised CFG: the same sequence with every prompt slot masked.
    uncond_ids_.assign(forward.ids.begin(), forward.ids.end());
    for (int i = 0; i < num_rows && rows_.begin + i < gen_start_; ++i) uncond_ids_[i] = mask_id_;
    forward.ids = uncond_ids_;
    forward.cache = rows_.use_cache ? uncond_cache_.get() : nullptr;
    batch->push_back(forward);
    planned_forwards_ = 2;
  }
  GenerationCounters& c = result_.counters;
  c.forward_passes += planned_forwards_;
  c.rows_computed += static_cast<int64_t>(num_rows) * planned_forwards_;
  c.logit_rows += static_cast<int64_t>(logit_rows_.size()) * planned_forwards_;
}

absl::Status DenoisingSequence::apply_logits(std::span<std::vector<float>> logits) {
  const size_t n = logit_positions_.size();
  if (static_cast<int>(logits.size()) != planned_forwards_) {
    return absl::InternalError(
        absl::StrCat("expected logits of ", planned_forwards_, " forwards, got ", logits.size()));
  }
  for (const std::vector<float>& l : logits) {
    if (l.size() != n * width_) {
      return absl::InternalError(
          absl::StrCat("logits of ", l.size(), " floats, expected ", n, " rows x ", width_));
    }
  }
  std::vector<float>& cond = logits[0];
  if (options_.cfg_scale > 0.0) {
    // float32 like the reference: un + (cfg + 1) * (cond - un)
    const float scale = static_cast<float>(options_.cfg_scale + 1.0);
    const std::vector<float>& un = logits[1];
    for (size_t i = 0; i < cond.size(); ++i) cond[i] = un[i] + scale * (cond[i] - un[i]);
  }
  if (options_.sampler == Sampler::kDreamOrigin) {
    apply_dream_origin(cond.data());
    return absl::OkStatus();
  }

  std::vector<TokenChoice> choices(n);
  const DreamSampling sampling{options_.temperature, options_.top_p, options_.top_k};
  for (size_t i = 0; i < n; ++i) {
    std::span<const float> row(cond.data() + i * width_, width_);
    choices[i] = dream_ ? choose_dream_token(row, sampling, dream_score(options_.sampler), rng_)
                        : choose_llada_token(row, options_.temperature,
                                             options_.sampler == Sampler::kLladaRandom, rng_);
  }
  commit(choices);
  return absl::OkStatus();
}

std::optional<kernels::ConfidenceKind> DenoisingSequence::greedy_kind() const {
  if (options_.temperature > 0.0 || options_.cfg_scale > 0.0 || options_.top_p < 1.0 ||
      options_.top_k > 0)
    return std::nullopt;
  switch (options_.sampler) {
    case Sampler::kLladaLowConfidence:
    case Sampler::kDreamMaskgitPlus:
      return kernels::ConfidenceKind::kMaxProb;
    case Sampler::kDreamTopkMargin:
      return kernels::ConfidenceKind::kMargin;
    case Sampler::kDreamEntropy:
      return kernels::ConfidenceKind::kNegEntropy;
    case Sampler::kLladaRandom:
    case Sampler::kDreamOrigin:
      return std::nullopt;
  }
  return std::nullopt;
}

absl::Status DenoisingSequence::apply_greedy(std::span<std::vector<GreedyChoice>> choices) {
  if (static_cast<int>(choices.size()) != planned_forwards_ || choices.size() != 1 ||
      choices[0].size() != logit_positions_.size()) {
    return absl::InternalError(absl::StrCat("expected ", logit_positions_.size(),
                                            " greedy choices of one forward"));
  }
  std::vector<TokenChoice> converted(choices[0].size());
  for (size_t i = 0; i < converted.size(); ++i)
    converted[i] = {choices[0][i].token, choices[0][i].confidence};
  commit(converted);
  return absl::OkStatus();
}

void DenoisingSequence::commit(std::span<const TokenChoice> choices) {
  std::vector<double> confidence(choices.size());
  for (size_t i = 0; i < choices.size(); ++i) confidence[i] = choices[i].confidence;
  const std::vector<int> chosen = choose_positions(confidence);
  for (int i : chosen) x_[logit_positions_[i]] = choices[i].token;
  if (row_focus_ != nullptr) {
    std::vector<int> committed;
    for (int i : chosen) committed.push_back(logit_positions_[i]);
    row_focus_->observe(logit_positions_, confidence, committed);
  }
  finish_step(static_cast<int>(chosen.size()));
}

std::vector<int> DenoisingSequence::choose_positions(std::span<const double> confidence) {
  if (options_.threshold > 0.0) return select_by_threshold(confidence, options_.threshold);
  const int k = planned_transfer_count();
  if (dream_ && options_.alg_temp > 0.0) {
    return sample_without_replacement(confidence, k, options_.alg_temp, rng_);
  }
  return select_top_k(confidence, k);
}

// Dream alg='origin': each mask is revealed with probability 1 - s/t, its token sampled.
void DenoisingSequence::apply_dream_origin(const float* logits) {
  const float reveal = dream_reveal_probability(timesteps_, step_);
  const DreamSampling sampling{options_.temperature, options_.top_p, options_.top_k};
  int transferred = 0;
  for (size_t i = 0; i < logit_positions_.size(); ++i) {
    if (!(rng_.uniform() < reveal)) continue;
    std::span<const float> row(logits + i * width_, width_);
    x_[logit_positions_[i]] = choose_dream_token(row, sampling, DreamScore::kMaxProb, rng_).token;
    ++transferred;
  }
  finish_step(transferred);
}

void DenoisingSequence::finish_step(int num_transferred) {
  if (options_.record_trace) {
    result_.trace.push_back({block_, step_, num_transferred, result_.counters.forward_passes, x_});
  }
  ++step_;
  ++result_.counters.steps;
  // A block is done when it has no mask left; with a step budget that is at its last step at
  // the latest (the schedules sum to the block's masks). LLaDA steps that would commit nothing
  // after that are not run.
  const bool out_of_steps = steps_per_block_ > 0 && step_ >= steps_per_block_;
  if (out_of_steps || masked_in_block().empty()) finish_block();
}

void DenoisingSequence::finish_block() {
  std::span<const int32_t> ids = std::span<const int32_t>(x_).subspan(block_begin(), block_length_);
  if (on_block_) on_block_(block_, ids);
  const bool all_stop =
      std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return contains(stop_tokens_, id); });
  ++block_;
  if (options_.stop_after_stop_block && all_stop && block_ < num_blocks_) {
    // The answer ended; blocks after a padding block would be padding too.
    for (size_t p = block_begin(); p < x_.size(); ++p) {
      if (x_[p] == mask_id_) x_[p] = stop_tokens_.front();
    }
    result_.stopped_early = true;
    finished_ = true;
    return;
  }
  if (block_ == num_blocks_) {
    finished_ = true;
    return;
  }
  start_block();
}

GenerationResult DenoisingSequence::take_result() {
  result_.sequence = x_;
  auto tail_begin = x_.begin() + gen_start_;
  auto tail_end = x_.end();
  if (options_.truncate_at_stop) {
    tail_end =
        std::find_if(tail_begin, x_.end(), [&](int32_t id) { return contains(stop_tokens_, id); });
  }
  result_.generated.assign(tail_begin, tail_end);
  return std::move(result_);
}

}  // namespace dllm
