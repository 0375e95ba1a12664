// KvPool: page allocation, reference counts, exhaustion, and paged K/V through the CPU backend.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/kv/kv_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dllm {
namespace {

using kernels::DType;

std::unique_ptr<KvPool> make_pool(kernels::Backend* be, int pages, int page_size, DType dtype,
                                  int layers = 2, int kv_heads = 2, int head_dim = 8) {
  KvPoolOptions o;
  o.page_size = page_size;
  o.dtype = dtype;
  o.max_bytes = static_cast<size_t>(pages) * 2 * layers * page_size * kv_heads * head_dim *
                kernels::dtype_size(dtype);
  auto pool = KvPool::create(be, layers, kv_heads, head_dim, o);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return std::move(*pool);
}

TEST(KvPool, AllocatesUntilExhaustedAndFreesOnLastRelease) {
  auto be = kernels::make_cpu_backend(1);
  auto pool = make_pool(be.get(), 8, 4, DType::kF32);
  EXPECT_EQ(pool->stats().total_pages, 8);
  auto a = pool->allocate(5);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)[0], 0);  // a fresh pool hands out the lowest ids first
  auto b = pool->allocate(4);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(b.status().message().find("exhausted"), std::string::npos);
  EXPECT_EQ(pool->stats().allocations_refused, 1);
  pool->retain(*a);  // a second owner (e.g. a cached chunk shared by two requests)
  pool->release(*a);
  EXPECT_EQ(pool->stats().used_pages, 5);
  EXPECT_EQ(pool->ref_count((*a)[2]), 1);
  pool->release(*a);
  EXPECT_EQ(pool->stats().used_pages, 0);
  auto c = pool->allocate(8);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(pool->stats().used_pages, 8);
}

TEST(KvPool, RejectsBadOptions) {
  auto be = kernels::make_cpu_backend(1);
  KvPoolOptions o;
  o.page_size = 0;
  EXPECT_FALSE(KvPool::create(be.get(), 1, 1, 8, o).ok());
  o.page_size = 64;
  o.max_bytes = 10;  // less than a page
  EXPECT_EQ(KvPool::create(be.get(), 1, 1, 8, o).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// Attention over scattered pages equals attention over the same K/V stored contiguously.
void check_paged_attention(DType dtype) {
  auto be = kernels::make_cpu_backend(2);
  const int layers = 1, kv_heads = 2, heads = 4, hd = 8, page = 4, keys = 23, rows = 5;
  auto pool = make_pool(be.get(), 16, page, dtype, layers, kv_heads, hd);
  // Take pages out of order so that the table is not the identity.
  auto junk = pool->allocate(3);
  auto pages = pool->allocate((keys + page - 1) / page);
  ASSERT_TRUE(junk.ok() && pages.ok());
  pool->release(*junk);
  std::vector<int32_t> table(pages->rbegin(), pages->rend());

  std::mt19937 rng(1);
  std::normal_distribution<float> n01;
  const int row = kv_heads * hd;
  std::vector<float> k(keys * row), v(keys * row), q(rows * heads * hd);
  for (auto* vec : {&k, &v, &q})
    for (float& x : *vec) x = n01(rng);
  if (dtype == DType::kBF16)  // compare against the values the cache can hold
    for (auto* vec : {&k, &v})
      for (float& x : *vec) x = kernels::cpu::bf16_to_f32(kernels::cpu::f32_to_bf16(x));
  std::vector<int32_t> slots(keys);
  for (int i = 0; i < keys; ++i) slots[i] = i;
  const kernels::KvView paged = pool->layer_view(0, table.data());
  be->write_kv(k.data(), v.data(), keys, row, slots.data(), paged);

  kernels::KvView contiguous;
  contiguous.k = k.data();
  contiguous.v = v.data();
  std::vector<float> out_paged(q.size()), out_ref(q.size());
  kernels::AttentionParams p;
  p.q = q.data();
  p.num_q = rows;
  p.num_keys = keys;
  p.num_heads = heads;
  p.num_kv_heads = kv_heads;
  p.head_dim = hd;
  p.scale = 0.35f;
  p.kv = paged;
  p.out = out_paged.data();
  be->attention(p);
  p.kv = contiguous;
  p.out = out_ref.data();
  be->attention(p);
  for (size_t i = 0; i < q.size(); ++i) ASSERT_NEAR(out_paged[i], out_ref[i], 1e-6f) << i;
}

TEST(KvPool, PagedAttentionEqualsContiguousF32) { check_paged_attention(DType::kF32); }
TEST(KvPool, PagedAttentionEqualsContiguousBf16) { check_paged_attention(DType::kBF16); }

}  // namespace
}  // namespace dllm
