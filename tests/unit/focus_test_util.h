// Focus-dLLM settings shared by the focus tests.
#pragma once

#include "common/sparse/focus_options.h"

namespace dllm::testing_focus {

// Nothing pruned: every mask focused, every prompt block kept (output must equal the dual cache).
inline FocusOptions everything() {
  FocusOptions f;
  f.rho = 1e6;
  f.kv_budget = 1 << 20;
  f.sinks = 4;
  f.kv_block = 8;
  f.mass_recall_every = 1;
  return f;
}

}  // namespace dllm::testing_focus
