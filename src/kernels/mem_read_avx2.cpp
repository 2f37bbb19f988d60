// The avx2 variant: the trainer's kernels (gemm, softmax) in AVX2 + FMA, 8 floats per vector.
// Native x86-64 only (CMakeLists.txt builds this file there, never under Emscripten), and picked at
// run time only when the CPU has AVX2 and FMA (kernel_set_supported, fastest_training_kernel_set).
//
// Every function with vector code here is compiled for AVX2 + FMA through MEMREAD_AVX2 (a target attribute), not
// through -mavx2 -mfma on the file: with those flags, an inline function from a header (a
// std:: template, say) would be emitted with AVX2 instructions in this object, and the linker may
// keep that copy for every caller, AVX2 or not.
//
//   gemm     the classic blocked product (Goto / BLIS): b is packed in blocks of kGemmDepthBlock
//            rows × up to kGemmColumnBlock columns as 16-column panels, a in blocks of
//            kGemmRowBlock rows as 6-row panels; a micro-kernel keeps a 6×16 tile of c in 12 ymm
//            registers (6 rows × 2 vectors), one b row (2 vectors) and one broadcast of a: 15 of
//            the 16 registers. 12 independent FMA chains cover the FMA latency of both pipes.
//   softmax  the wasmsimd variant's exp (range reduction + degree-5 polynomial) on 8 lanes, with
//            FMA; then one pass scaling by 1/Σ.
//
// The inference kernels (read_one, read_batch, read_causal, packed_times_vector) are the wasmsimd
// variant's: inference runs in the browser (wasm), so only the trainer's kernels have native x86
// code (see kernels_avx2 at the end).
#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "mem_read.h"
#include "mem_read_wasmsimd.h"

#define MEMREAD_AVX2 __attribute__((target("avx2,fma")))

namespace memread {
namespace {

// ---- Softmax ----------------------------------------------------------------------------------

// e^x for x ≤ 0 on 8 lanes: exp_nonpositive of mem_read_wasmsimd.cpp (same constants, same
// reduction), each multiply-add one FMA. x below -87.33 gives 0.
MEMREAD_AVX2 inline __m256 exp_nonpositive(__m256 x) {
  const __m256 log2e = _mm256_set1_ps(0x1.715476p+0f);
  const __m256 magic_bias = _mm256_set1_ps(0x1.8000FEp23f);
  const __m256 minus_ln2_hi = _mm256_set1_ps(-0x1.62E400p-1f);
  const __m256 minus_ln2_lo = _mm256_set1_ps(-0x1.7F7D1Cp-20f);
  const __m256 c5 = _mm256_set1_ps(0x1.0F9F9Cp-7f);
  const __m256 c4 = _mm256_set1_ps(0x1.573A1Ap-5f);
  const __m256 c3 = _mm256_set1_ps(0x1.555A80p-3f);
  const __m256 c2 = _mm256_set1_ps(0x1.FFFDC6p-2f);
  const __m256 c1 = _mm256_set1_ps(0x1.FFFFF6p-1f);
  const __m256 cutoff = _mm256_set1_ps(-0x1.5D589Ep6f);  // -87.33655: e^x < 2^-126 below

  // n = round(x·log2e), left (+127) in the low mantissa bits by the magic bias; 2^n from them.
  __m256 n = _mm256_fmadd_ps(x, log2e, magic_bias);
  const __m256 two_to_n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(n), 23));
  n = _mm256_sub_ps(n, magic_bias);
  // t = x − n·ln2, ln2 in two parts
  __m256 t = _mm256_fmadd_ps(n, minus_ln2_hi, x);
  t = _mm256_fmadd_ps(n, minus_ln2_lo, t);
  // e^t = 1 + t·p(t), p of degree 4 (Horner)
  __m256 p = _mm256_fmadd_ps(c5, t, c4);
  p = _mm256_fmadd_ps(p, t, c3);
  p = _mm256_fmadd_ps(p, t, c2);
  p = _mm256_fmadd_ps(p, t, c1);
  t = _mm256_mul_ps(t, two_to_n);
  const __m256 result = _mm256_fmadd_ps(t, p, two_to_n);  // 2^n · (1 + t·p(t))
  return _mm256_andnot_ps(_mm256_cmp_ps(x, cutoff, _CMP_LT_OQ), result);
}

MEMREAD_AVX2 inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

MEMREAD_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lanes 0 .. count−1 of the mask set (count ≤ 8): the tail of a row, for masked loads and stores.
MEMREAD_AVX2 inline __m256i first_lanes(size_t count) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(count)), lane);
}

// The last 1-7 entries of a row, at tail, with −inf in the lanes past its end (never read).
MEMREAD_AVX2 inline __m256 load_tail(const float* tail, __m256i mask) {
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(tail, mask), _mm256_castsi256_ps(mask));
}

// x(n) ← softmax(x), max-subtracted: 1. the maximum; 2. e^(x − max) and Σ; 3. scale by 1/Σ.
// The last 1-7 entries go through masked loads and stores (their missing lanes read as −inf).
MEMREAD_AVX2 void softmax(float* x, size_t n) {
  if (n == 0) return;
  const size_t n8 = n / 8 * 8;
  const __m256i tail_mask = first_lanes(n - n8);
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);

  // 1. the maximum
  __m256 vmax = minus_inf;
  for (size_t j = 0; j < n8; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
  if (n8 < n) vmax = _mm256_max_ps(vmax, load_tail(x + n8, tail_mask));
  const __m256 max_score = _mm256_set1_ps(horizontal_max(vmax));

  // 2. e^(x − max) and its sum, in two sums so consecutive adds overlap
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m256 e0 = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + j), max_score));
    const __m256 e1 = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), max_score));
    _mm256_storeu_ps(x + j, e0);
    _mm256_storeu_ps(x + j + 8, e1);
    sum0 = _mm256_add_ps(sum0, e0);
    sum1 = _mm256_add_ps(sum1, e1);
  }
  for (; j < n8; j += 8) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(x + j), max_score));
    _mm256_storeu_ps(x + j, e);
    sum0 = _mm256_add_ps(sum0, e);
  }
  if (n8 < n) {
    const __m256 e = exp_nonpositive(_mm256_sub_ps(load_tail(x + n8, tail_mask), max_score));  // −inf lanes give 0
    _mm256_maskstore_ps(x + n8, tail_mask, e);
    sum0 = _mm256_add_ps(sum0, e);
  }

  // 3. x ← e / Σ   (Σ ≥ 1: the maximum contributes e^0)
  const __m256 inv_sum = _mm256_set1_ps(1.0f / horizontal_sum(_mm256_add_ps(sum0, sum1)));
  for (j = 0; j < n8; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), inv_sum));
  if (n8 < n) {
    _mm256_maskstore_ps(x + n8, tail_mask, _mm256_mul_ps(_mm256_maskload_ps(x + n8, tail_mask), inv_sum));
  }
}

// ---- Matrix product -----------------------------------------------------------------------------

// The register tile of c: 6 rows × 16 columns (2 vectors).
constexpr size_t kGemmTileRows = 6;
constexpr size_t kGemmTileColumns = 16;
// The cache blocks (L1d 32 KB, L2 ≥ 512 KB on AVX2 x86-64):
//   depth block  a 16-column panel of packed b, 256 × 16 floats = 16 KB, stays in L1 while the
//                micro-kernel runs down every 6-row panel of the a block;
//   row block    the packed block of a, 96 × 256 floats = 96 KB, stays in L2 for every b panel;
//   column block the packed block of b, 256 × 512 floats = 512 KB (L2 or L3), packed once and
//                read by every row block.
constexpr size_t kGemmDepthBlock = 256;
constexpr size_t kGemmRowBlock = 96;  // 16 panels of 6 rows
constexpr size_t kGemmColumnBlock = 512;
static_assert(kGemmRowBlock % kGemmTileRows == 0 && kGemmColumnBlock % kGemmTileColumns == 0,
              "the blocks are made of whole panels");

// The packed blocks, per thread (the trainer runs one gemm per thread), on the heap: 608 KB is
// too much for a stack. Allocated on a thread's first product, 64-byte aligned, kept until the
// thread ends.
struct GemmBuffers {
  float* packed_a = nullptr;  // kGemmRowBlock × kGemmDepthBlock
  float* packed_b = nullptr;  // kGemmDepthBlock × kGemmColumnBlock
  GemmBuffers() {
    packed_a = static_cast<float*>(std::aligned_alloc(64, kGemmRowBlock * kGemmDepthBlock * sizeof(float)));
    packed_b = static_cast<float*>(std::aligned_alloc(64, kGemmDepthBlock * kGemmColumnBlock * sizeof(float)));
    if (packed_a == nullptr || packed_b == nullptr) {
      std::free(packed_a);
      std::free(packed_b);
      throw std::bad_alloc();
    }
  }
  ~GemmBuffers() {
    std::free(packed_a);
    std::free(packed_b);
  }
  GemmBuffers(const GemmBuffers&) = delete;
  GemmBuffers& operator=(const GemmBuffers&) = delete;
};

// packed(panels × depth × 16)[(j/16)·depth·16 + p·16 + j%16] = b(p, j) for a block of b (depth ×
// cols), read row by row; the columns of a last panel past cols are zeros.
MEMREAD_AVX2 void pack_b_block(const float* b, size_t b_row_step, size_t depth, size_t cols,
                               float* packed) {
  const size_t cols16 = cols / kGemmTileColumns * kGemmTileColumns;
  const size_t rest = cols - cols16;  // 0-15 columns in a last, zero-padded panel
  const __m256i rest_lo = first_lanes(rest < 8 ? rest : 8), rest_hi = first_lanes(rest > 8 ? rest - 8 : 0);
  for (size_t p = 0; p < depth; ++p, b += b_row_step) {
    float* panel_row = packed + kGemmTileColumns * p;
    size_t j = 0;
    for (; j < cols16; j += kGemmTileColumns, panel_row += kGemmTileColumns * depth) {
      _mm256_store_ps(panel_row, _mm256_loadu_ps(b + j));
      _mm256_store_ps(panel_row + 8, _mm256_loadu_ps(b + j + 8));
    }
    if (rest > 0) {  // masked loads: nothing past b(p, cols − 1) is read
      _mm256_store_ps(panel_row, _mm256_maskload_ps(b + j, rest_lo));
      _mm256_store_ps(panel_row + 8, rest > 8 ? _mm256_maskload_ps(b + j + 8, rest_hi) : _mm256_setzero_ps());
    }
  }
}

// packed(panels × depth × 6)[(i/6)·depth·6 + p·6 + i%6] = a(i, p) for a block of a (rows × depth);
// the rows of a last panel past rows are zeros (their sums are computed, never stored).
MEMREAD_AVX2 void pack_a_block(const float* a, size_t a_row_step, size_t a_col_step, size_t rows, size_t depth,
                  float* packed) {
  for (size_t i0 = 0; i0 < rows; i0 += kGemmTileRows, packed += kGemmTileRows * depth) {
    const size_t panel_rows = rows - i0 < kGemmTileRows ? rows - i0 : kGemmTileRows;
    const float* panel = a + i0 * a_row_step;
    if (panel_rows == kGemmTileRows && a_row_step == 1) {
      // Aᵀ stored: a(i0 .. i0+5, p) is one run of memory.
      for (size_t p = 0; p < depth; ++p) std::memcpy(packed + kGemmTileRows * p, panel + p * a_col_step, kGemmTileRows * sizeof(float));
    } else if (panel_rows == kGemmTileRows) {
      // A row-major (or any strides): 6 rows read side by side.
      for (size_t p = 0; p < depth; ++p) {
        for (size_t r = 0; r < kGemmTileRows; ++r) packed[kGemmTileRows * p + r] = panel[r * a_row_step + p * a_col_step];
      }
    } else {
      for (size_t p = 0; p < depth; ++p) {
        for (size_t r = 0; r < kGemmTileRows; ++r) {
          packed[kGemmTileRows * p + r] = r < panel_rows ? panel[r * a_row_step + p * a_col_step] : 0.0f;
        }
      }
    }
  }
}

// row(8) (+)= sum, for one vector of sums of c.
MEMREAD_AVX2 inline void store_sum(float* c, __m256 sum, bool add) {
  _mm256_storeu_ps(c, add ? _mm256_add_ps(_mm256_loadu_ps(c), sum) : sum);
}

// The micro-kernel: c(rows×cols) (+)= panel_a(6×depth)·panel_b(depth×16), rows ≤ 6, cols ≤ 16.
// Twelve named sums (an array of sums let GCC shuffle them between registers in the wasmsimd
// kernel); a full tile is stored straight to c, a partial one (the edges of c) through a local
// tile, of which only the rows and columns of c are copied.
MEMREAD_AVX2 inline void gemm_tile_6x16(const float* panel_a, const float* panel_b, size_t depth,
                                        float* c, size_t c_row_step, size_t rows, size_t cols,
                                        bool add) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (size_t p = 0; p < depth; ++p, panel_a += kGemmTileRows, panel_b += kGemmTileColumns) {
    const __m256 b0 = _mm256_load_ps(panel_b), b1 = _mm256_load_ps(panel_b + 8);  // b(p, 0..15)
    __m256 a = _mm256_broadcast_ss(panel_a);                                         // a(0, p)
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(panel_a + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(panel_a + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(panel_a + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(panel_a + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(panel_a + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  if (rows == kGemmTileRows && cols == kGemmTileColumns) {
    store_sum(c, c00, add);
    store_sum(c + 8, c01, add);
    store_sum(c + c_row_step, c10, add);
    store_sum(c + c_row_step + 8, c11, add);
    store_sum(c + 2 * c_row_step, c20, add);
    store_sum(c + 2 * c_row_step + 8, c21, add);
    store_sum(c + 3 * c_row_step, c30, add);
    store_sum(c + 3 * c_row_step + 8, c31, add);
    store_sum(c + 4 * c_row_step, c40, add);
    store_sum(c + 4 * c_row_step + 8, c41, add);
    store_sum(c + 5 * c_row_step, c50, add);
    store_sum(c + 5 * c_row_step + 8, c51, add);
    return;
  }
  alignas(32) float tile[kGemmTileRows * kGemmTileColumns];  // the sums, row by row
  _mm256_store_ps(tile, c00);
  _mm256_store_ps(tile + 8, c01);
  _mm256_store_ps(tile + 16, c10);
  _mm256_store_ps(tile + 24, c11);
  _mm256_store_ps(tile + 32, c20);
  _mm256_store_ps(tile + 40, c21);
  _mm256_store_ps(tile + 48, c30);
  _mm256_store_ps(tile + 56, c31);
  _mm256_store_ps(tile + 64, c40);
  _mm256_store_ps(tile + 72, c41);
  _mm256_store_ps(tile + 80, c50);
  _mm256_store_ps(tile + 88, c51);
  for (size_t r = 0; r < rows; ++r, c += c_row_step) {
    const float* sums = tile + kGemmTileColumns * r;
    for (size_t j = 0; j < cols; ++j) c[j] = add ? c[j] + sums[j] : sums[j];
  }
}

// c(m×n) = [c +] a(m×k)·b(k×n), a(i, p) = a[i·a_row_step + p·a_col_step] (mem_read.h).
MEMREAD_AVX2 void gemm(size_t m, size_t n, size_t k, const float* a, size_t a_row_step,
                       size_t a_col_step, const float* b, size_t b_row_step, float* c,
                       size_t c_row_step, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum: c = 0, or c unchanged. (a and b may be null: no pointer arithmetic on them.)
    if (!accumulate) {
      for (size_t i = 0; i < m; ++i) std::memset(c + i * c_row_step, 0, n * sizeof(float));
    }
    return;
  }
  thread_local GemmBuffers buffers;
  for (size_t j0 = 0; j0 < n; j0 += kGemmColumnBlock) {
    const size_t cols = n - j0 < kGemmColumnBlock ? n - j0 : kGemmColumnBlock;
    for (size_t p0 = 0; p0 < k; p0 += kGemmDepthBlock) {
      const size_t depth = k - p0 < kGemmDepthBlock ? k - p0 : kGemmDepthBlock;
      const bool add = accumulate || p0 > 0;  // blocks after the first add to what the first wrote
      // 1. the block of b (depth × cols) into panels of 16 columns
      pack_b_block(b + p0 * b_row_step + j0, b_row_step, depth, cols, buffers.packed_b);
      for (size_t i0 = 0; i0 < m; i0 += kGemmRowBlock) {
        // 2. the block of a (up to 96 rows × depth) into panels of 6 rows
        const size_t rows = m - i0 < kGemmRowBlock ? m - i0 : kGemmRowBlock;
        pack_a_block(a + i0 * a_row_step + p0 * a_col_step, a_row_step, a_col_step, rows, depth,
                     buffers.packed_a);
        // 3. c(rows × cols) (+)= a block · b block, one panel of b (in L1) against every panel of a
        for (size_t j = 0; j < cols; j += kGemmTileColumns) {
          const size_t tile_cols = cols - j < kGemmTileColumns ? cols - j : kGemmTileColumns;
          const float* panel_b = buffers.packed_b + j * depth;
          for (size_t i = 0; i < rows; i += kGemmTileRows) {
            const size_t tile_rows = rows - i < kGemmTileRows ? rows - i : kGemmTileRows;
            gemm_tile_6x16(buffers.packed_a + i * depth, panel_b, depth,
                           c + (i0 + i) * c_row_step + j0 + j, c_row_step, tile_rows, tile_cols, add);
          }
        }
      }
    }
  }
}

// The binary may run on a CPU without them: the variant is used only where this says yes.
bool cpu_has_avx2_and_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

}  // namespace

// Only the trainer's kernels are AVX2: the read kernels are the wasmsimd variant's, because
// inference runs in the browser (wasm) and its native use (CLI, tests) is not where time goes.
// A constant-initialised aggregate of function pointers, not a copy of kernels_wasmsimd (whose
// dynamic initialisation order relative to this one would be unspecified).
const KernelSet kernels_avx2 = {"avx2",
                                wasmsimd::read_one,
                                wasmsimd::read_batch,
                                wasmsimd::read_causal,
                                wasmsimd::packed_times_vector,
                                wasmsimd::packed_times_vectors,
                                gemm,
                                softmax,
                                wasmsimd::row_distances,
                                wasmsimd::Int8::read_one,
                                wasmsimd::Int8::read_batch,
                                wasmsimd::Int8::read_causal,
                                wasmsimd::Int8::rows_times_vector,
                                wasmsimd::Int8::rows_times_vectors,
                                cpu_has_avx2_and_fma};

}  // namespace memread
