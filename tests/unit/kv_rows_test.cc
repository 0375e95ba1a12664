// export_kv_rows / import_kv_rows: what a prefill node exports arrives bit for bit in a decode
// node's cache, in host memory or in the backend's own (the cuda_ipc path), across page edges.
#include "common/kv/kv_rows.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/unit/prefilling_test_util.h"

namespace dllm {
namespace {

using testing::read_kv_row;
using testing::tiny_model;
using testing::token_run;

// A cache of `n` slots holding the K/V of a real forward over n tokens.
std::unique_ptr<KvCache> encoded_cache(Transformer& m, int n) {
  auto cache = m.new_kv_cache(n);
  EXPECT_TRUE(cache.ok()) << cache.status();
  const std::vector<int32_t> ids = token_run(n, 11);
  std::vector<int32_t> slots(n);
  for (int i = 0; i < n; ++i) slots[i] = i;
  SequenceForward f{.ids = ids,
                    .positions = slots,
                    .slots = slots,
                    .cache = cache->get(),
                    .attend_len = n,
                    .logit_rows = {slots.data(), 1}};
  std::vector<std::vector<float>> out;
  EXPECT_TRUE(m.forward({&f, 1}, &out).ok());
  return std::move(*cache);
}

TEST(KvRows, ExportThenImportLayerByLayerIsBitExactInEitherMemory) {
  for (const std::string& dir : {testing::kLladaTiny, testing::kDreamTiny}) {
    Transformer& m = tiny_model(dir);
    const ModelConfig& c = m.config();
    const int n = 150, begin = 5, end = 140;  // crosses 64-slot page edges on both sides
    const int elems = c.num_kv_heads * c.head_dim;
    std::unique_ptr<KvCache> src = encoded_cache(m, n);
    for (KvRowsMemory memory : {KvRowsMemory::kHost, KvRowsMemory::kBackend}) {
      absl::StatusOr<KvRowsBuffer> rows = export_kv_rows(m, *src, begin, end, memory);
      ASSERT_TRUE(rows.ok()) << rows.status();
      const KvRowsLayout layout = kv_rows_layout(m, end - begin);
      ASSERT_EQ(rows->size(), layout.total_bytes());
      EXPECT_EQ(rows->memory(), memory);
      auto dst = m.new_kv_cache(n);
      ASSERT_TRUE(dst.ok());
      // Layers arrive one at a time, as a decode node imports them.
      for (int l = 0; l < c.num_layers; ++l)
        ASSERT_TRUE(import_kv_rows(m, **dst, begin, end, l, rows->data() + l * layout.layer_bytes(),
                                   layout.layer_bytes(), memory)
                        .ok());
      for (int l = 0; l < c.num_layers; ++l)
        for (int s = begin; s < end; ++s)
          for (bool k : {true, false})
            ASSERT_EQ(read_kv_row(m.kv_cache_layer(**dst, l), s, elems, k),
                      read_kv_row(m.kv_cache_layer(*src, l), s, elems, k))
                << dir << " layer " << l << " slot " << s << (k ? " K" : " V");
    }
  }
}

TEST(KvRows, MovedBufferKeepsItsBytesAndBadShapesAreErrors) {
  Transformer& m = tiny_model(testing::kLladaTiny);
  std::unique_ptr<KvCache> src = encoded_cache(m, 70);
  absl::StatusOr<KvRowsBuffer> rows = export_kv_rows(m, *src, 0, 70, KvRowsMemory::kBackend);
  ASSERT_TRUE(rows.ok());
  std::vector<uint8_t> before(rows->data(), rows->data() + rows->size());
  KvRowsBuffer moved = std::move(*rows);
  EXPECT_EQ(rows->size(), 0u);
  ASSERT_EQ(moved.size(), before.size());
  EXPECT_EQ(std::memcmp(moved.data(), before.data(), before.size()), 0);

  EXPECT_FALSE(export_kv_rows(m, *src, 10, src->capacity() + 1, KvRowsMemory::kHost).ok());
  EXPECT_FALSE(export_kv_rows(m, *src, 10, 5, KvRowsMemory::kHost).ok());   // end < begin
  auto dst = m.new_kv_cache(70);
  ASSERT_TRUE(dst.ok());
  const KvRowsLayout layout = kv_rows_layout(m, 70);
  EXPECT_EQ(import_kv_rows(m, **dst, 0, 70, 0, moved.data(), layout.layer_bytes() - 1,
                           KvRowsMemory::kBackend)
                .code(),
            absl::StatusCode::kInvalidArgument);  // not a whole layer
  EXPECT_EQ(import_kv_rows(m, **dst, 0, 70, m.config().num_layers, moved.data(),
                           layout.layer_bytes(), KvRowsMemory::kBackend)
                .code(),
            absl::StatusCode::kInvalidArgument);  // a layer the model lacks
}

}  // namespace
}  // namespace dllm
