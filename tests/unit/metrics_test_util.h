// Puts one series in every ServingMetrics family, so a scrape shows the whole catalogue.
#pragma once

#include "common/metrics/serving_metrics.h"

namespace dllm::metrics {

inline void touch_every_family(ServingMetrics& m) {
  m.requests("tiny", "dense", request_outcome::kOk).Increment();
  m.prompt_tokens("tiny", "dense").Increment(12);
  m.generated_tokens("tiny", "dense").Increment(8);
  m.time_to_first_block("tiny", "dense").Observe(0.2);
  m.time_per_block("tiny", "dense").Observe(0.1);
  m.denoising_steps_per_block("tiny", "dense").Observe(8);
  m.request_duration("tiny", "dense").Observe(0.5);
  m.queue_time("tiny").Observe(0.01);
  m.running_requests("tiny").Set(1);
  m.waiting_requests("tiny").Set(2);
  m.denoising_step_duration("tiny", "focus").Observe(0.01);
  m.selected_chunks("tiny", "prefilling").Observe(4);
  m.kept_token_ratio("tiny", "prefilling").Observe(0.3);
  FocusCounters focus;
  focus.committed_focused = 10;
  focus.committed_in_focus = 9;
  focus.mass_samples = 2;
  focus.mass_recall_sum = 1.8;
  focus.sink_steps = 3;
  focus.sink_overlap_sum = 2.7;
  m.record_focus("tiny", "focus", focus);
  m.set_kv_pool({.total_pages = 64, .used_pages = 16, .page_bytes = 4096});
  m.sync_chunk_cache("tiny", {.hits = 3, .misses = 2, .evictions = 1, .entries = 4, .pages = 4});
  m.record_kv_transfer("local", 4096, 0.002);
  m.kv_transfer_failures("ucx").Increment();
  m.placements("prefill", placement_outcome::kCacheHit).Increment();
  m.retries("decode", placement_outcome::kRecovered).Increment();
  m.node_up("decode", "127.0.0.1:50053").Set(1);
}

}  // namespace dllm::metrics
