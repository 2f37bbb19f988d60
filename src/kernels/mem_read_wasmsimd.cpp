// The wasmsimd variant: WebAssembly SIMD128 (natively through SIMDe), 4 floats per vector.
// Same signatures and contract as the scalar reference (mem_read_scalar.cpp); see mem_read.h.
//
// A read is two matrix products around a softmax, and both products run the same code thanks to
// the panel layout (K packed as is, V packed transposed):
//   one query    scores = K·q and out = Vᵀ·e are both "packed matrix times vector":
//                panel_times_vector keeps a panel's 6 vectors of sums in registers, one
//                broadcast of x[c] feeding 6 multiply-adds, with no horizontal sums.
//   a batch      tiles of 4 query rows × 8 panel rows (tile_4xv): each loaded panel vector
//                serves 4 rows and each broadcast query entry 2 vectors, like a matrix multiply;
//                the tile's rows are interleaved first so the broadcasts need no address math;
//                blocks of 16 rows share each pass over K and V, chunk by chunk, from L1.
//   softmax      a vector exp (range reduction + degree-5 polynomial) instead of expf per key;
//                the normalisation 1/Σ is folded into the store of the output.
//   training     gemm: register tiles of 4×8 over packed 16-row panels of A and 8-column panels
//                of B, blocked for L1 (see gemm below); softmax: the read's exp, then 1/Σ.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "mem_read.h"
#include "mem_read_wasmsimd.h"
#include "simd128.h"

namespace memread {
namespace {

// ---- Vector helpers ---------------------------------------------------------------------------

inline v128_t splat_load(const float* p) { return wasm_v128_load32_splat(p); }
inline v128_t load(const float* p) { return wasm_v128_load(p); }
inline void store(float* p, v128_t v) { wasm_v128_store(p, v); }
inline v128_t zeros() { return wasm_f32x4_splat(0.0f); }
inline v128_t madd(v128_t acc, v128_t a, v128_t b) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b));
}

inline float horizontal_sum(v128_t v) {
  v128_t pairs = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(pairs, 0) + wasm_f32x4_extract_lane(pairs, 1);
}

inline float horizontal_max(v128_t v) {
  v128_t pairs = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  const float a = wasm_f32x4_extract_lane(pairs, 0), b = wasm_f32x4_extract_lane(pairs, 1);
  return a > b ? a : b;
}

// (Σ a0, Σ a1, Σ a2, Σ a3): four horizontal sums at once, by transposing.
inline v128_t horizontal_sums4(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  v128_t s01 = wasm_f32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5),
                              wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
  v128_t s23 = wasm_f32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5),
                              wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 1, 4, 5),
                        wasm_i32x4_shuffle(s01, s23, 2, 3, 6, 7));
}

// A value that overflowed to ±inf becomes ±FLT_MAX, so that score − max stays a number.
inline v128_t clamp_to_finite(v128_t v) {
  return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(-FLT_MAX)), wasm_f32x4_splat(FLT_MAX));
}

// e^x for x ≤ 0, within 2 ulp; x below -87.33 (where e^x leaves the normal floats) gives 0.
// Range reduction x = n·ln2 + t with |t| ≤ ln2/2 (ln2 split in two for accuracy), then a degree-5
// polynomial for e^t and 2^n built in the exponent bits. The rounding to n uses the "magic bias"
// trick: adding 1.5·2^23 (+127, the exponent bias) leaves round(x·log2e)+127 in the low mantissa.
inline v128_t exp_nonpositive(v128_t x) {
  const v128_t log2e = wasm_f32x4_splat(0x1.715476p+0f);
  const v128_t magic_bias = wasm_f32x4_splat(0x1.8000FEp23f);
  const v128_t minus_ln2_hi = wasm_f32x4_splat(-0x1.62E400p-1f);
  const v128_t minus_ln2_lo = wasm_f32x4_splat(-0x1.7F7D1Cp-20f);
  const v128_t c5 = wasm_f32x4_splat(0x1.0F9F9Cp-7f);
  const v128_t c4 = wasm_f32x4_splat(0x1.573A1Ap-5f);
  const v128_t c3 = wasm_f32x4_splat(0x1.555A80p-3f);
  const v128_t c2 = wasm_f32x4_splat(0x1.FFFDC6p-2f);
  const v128_t c1 = wasm_f32x4_splat(0x1.FFFFF6p-1f);
  const v128_t cutoff = wasm_f32x4_splat(-0x1.5D589Ep6f);  // -87.33655: e^x < 2^-126 below

  v128_t n = madd(magic_bias, x, log2e);
  const v128_t two_to_n = wasm_i32x4_shl(n, 23);
  n = wasm_f32x4_sub(n, magic_bias);
  v128_t t = madd(x, n, minus_ln2_hi);
  t = madd(t, n, minus_ln2_lo);

  v128_t p = madd(c4, c5, t);
  p = madd(c3, p, t);
  p = madd(c2, p, t);
  p = madd(c1, p, t);
  t = wasm_f32x4_mul(t, two_to_n);
  const v128_t result = madd(two_to_n, t, p);  // 2^n · (1 + t·p(t))
  return wasm_v128_andnot(result, wasm_f32x4_lt(x, cutoff));
}

// ---- Softmax, unnormalised ----------------------------------------------------------------------

}  // namespace
namespace wasmsimd {

// s(n) ← e^(s − max s), returning Σ s (≥ 1: the maximum contributes e^0). Callers scale by 1/Σ
// where they store their result, which saves a pass over s.
float exp_and_sum(float* s, size_t n) {
  if (n == 0) return 0.0f;
  const size_t n4 = n / 4 * 4;

  // 1. the maximum
  v128_t vmax = wasm_f32x4_splat(s[0]);
  for (size_t j = 0; j < n4; j += 4) vmax = wasm_f32x4_pmax(vmax, load(s + j));
  float max_score = horizontal_max(vmax);
  for (size_t j = n4; j < n; ++j) max_score = s[j] > max_score ? s[j] : max_score;
  const v128_t vmax_score = wasm_f32x4_splat(max_score);

  // 2. e^(s − max) and its sum, two vectors at a time so consecutive adds overlap
  v128_t sum0 = zeros(), sum1 = zeros();
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const v128_t e0 = exp_nonpositive(wasm_f32x4_sub(load(s + j), vmax_score));
    const v128_t e1 = exp_nonpositive(wasm_f32x4_sub(load(s + j + 4), vmax_score));
    store(s + j, e0);
    store(s + j + 4, e1);
    sum0 = wasm_f32x4_add(sum0, e0);
    sum1 = wasm_f32x4_add(sum1, e1);
  }
  for (; j < n4; j += 4) {
    const v128_t e = exp_nonpositive(wasm_f32x4_sub(load(s + j), vmax_score));
    store(s + j, e);
    sum0 = wasm_f32x4_add(sum0, e);
  }
  if (j < n) {
    // The last 1-3 scores, through the same polynomial; missing lanes are -inf and give 0.
    float tail[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    std::memcpy(tail, s + j, (n - j) * sizeof(float));
    const v128_t e = exp_nonpositive(wasm_f32x4_sub(load(tail), vmax_score));
    store(tail, e);
    std::memcpy(s + j, tail, (n - j) * sizeof(float));
    sum0 = wasm_f32x4_add(sum0, e);
  }
  return horizontal_sum(wasm_f32x4_add(sum0, sum1));
}

}  // namespace wasmsimd
namespace {

// ---- Packed matrix × vector (one query) ---------------------------------------------------------

// out(4·VECS) = clamp(scale · panel·x) for one panel of width 4·VECS: cols columns, x(cols).
template <size_t VECS>
inline void panel_times_vector(const float* x, const float* panel, size_t cols, v128_t scale,
                               float* out) {
  v128_t acc[VECS];
  for (size_t i = 0; i < VECS; ++i) acc[i] = zeros();
  for (size_t c = 0; c < cols; ++c, panel += 4 * VECS) {
    const v128_t xc = splat_load(x + c);  // x[c] in every lane
    for (size_t i = 0; i < VECS; ++i) acc[i] = madd(acc[i], xc, load(panel + 4 * i));
  }
  for (size_t i = 0; i < VECS; ++i) store(out + 4 * i, clamp_to_finite(wasm_f32x4_mul(acc[i], scale)));
}

}  // namespace

// The read kernels are named in namespace wasmsimd (mem_read_wasmsimd.h): the avx2 variant reuses them.
namespace wasmsimd {

// out(padded_rows(rows)) = clamp(scale · M·x) for M(rows×cols) packed, x(cols).
void packed_times_vector(const float* x, const float* packed, size_t rows, size_t cols,
                         float scale, float* out) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  const size_t padded = padded_rows(rows);
  for (size_t first = 0, panel = 0; first < padded; first += kPanelWidth, ++panel) {
    const float* p = packed + first * cols;
    switch (panel_width(rows, panel) / 4) {
      case 6: panel_times_vector<6>(x, p, cols, vscale, out + first); break;
      case 5: panel_times_vector<5>(x, p, cols, vscale, out + first); break;
      case 4: panel_times_vector<4>(x, p, cols, vscale, out + first); break;
      case 3: panel_times_vector<3>(x, p, cols, vscale, out + first); break;
      case 2: panel_times_vector<2>(x, p, cols, vscale, out + first); break;
      default: panel_times_vector<1>(x, p, cols, vscale, out + first); break;
    }
  }
  static_assert(kPanelWidth == 24, "the switch above covers panel widths 4..24");
}

void read_one(const float* q, const float* packed_keys, const float* packed_values,
              MemoryShape shape, float temp, float* out, float* weights, float* scratch) {
  const size_t n = shape.n, d = shape.d, dv = shape.dv;
  float* e = scratch;                                      // padded_rows(n)
  float* out_padded = scratch + read_scratch_floats(shape) - padded_rows(dv);  // padded_rows(dv)

  // 1. scores e = K·q / temp
  packed_times_vector(q, packed_keys, n, d, 1.0f / temp, e);
  // 2. e = exp(scores − max), Σ e   (the padding rows past n are never read)
  const float sum = exp_and_sum(e, n);
  const float inv_sum = n > 0 ? 1.0f / sum : 0.0f;
  // 3. out = Vᵀ·e / Σ e   (zeros when n = 0)
  packed_times_vector(e, packed_values, dv, n, inv_sum, out_padded);
  std::memcpy(out, out_padded, dv * sizeof(float));
  if (weights != nullptr) {
    for (size_t j = 0; j < n; ++j) weights[j] = e[j] * inv_sum;
  }
}

}  // namespace wasmsimd
namespace {

// ---- Tiles of 4 rows (a batch) --------------------------------------------------------------------

// interleaved(depth×4)[c·4 + r] = rows[r][c]: a tile's 4 rows side by side, so that the micro-kernel
// broadcasts row r's entry c from one base address at a constant offset (no address arithmetic
// per row in the inner loop).
void interleave_rows(const float* const rows[4], size_t depth, float* interleaved) {
  for (size_t c = 0; c < depth; ++c) {
    for (size_t r = 0; r < 4; ++r) interleaved[c * 4 + r] = rows[r][c];
  }
}

// acc[r][i] = Σ_c a[c·4 + r] · cols[c·step + 4i .. +4]  for a tile of 4 interleaved rows (depth
// entries each) and VECS vectors of a panel's columns (step = panel width): the matrix-multiply
// micro-kernel of both halves of a batch read. 4×2 vectors of sums is what fits V8's 15 vector
// registers beside the 2 loaded columns and 4 broadcasts.
template <size_t VECS>
inline void tile_4xv(const float* a, const float* cols, size_t step, size_t depth,
                     v128_t acc[4][VECS]) {
  for (size_t r = 0; r < 4; ++r)
    for (size_t i = 0; i < VECS; ++i) acc[r][i] = zeros();
  for (size_t c = 0; c < depth; ++c, cols += step, a += 4) {
    v128_t column[VECS];
    for (size_t i = 0; i < VECS; ++i) column[i] = load(cols + 4 * i);
    for (size_t r = 0; r < 4; ++r) {
      const v128_t ar = splat_load(a + r);
      for (size_t i = 0; i < VECS; ++i) acc[r][i] = madd(acc[r][i], ar, column[i]);
    }
  }
}

// dst[r][0 .. valid) = clamp(scale[r] · acc[r]) for 4 destination rows.
template <size_t VECS>
inline void store_tile(v128_t acc[4][VECS], const float scale[4], float* const dst[4], size_t valid) {
  for (size_t r = 0; r < 4; ++r) {
    const v128_t s = wasm_f32x4_splat(scale[r]);
    if (valid >= 4 * VECS) {
      for (size_t i = 0; i < VECS; ++i) store(dst[r] + 4 * i, clamp_to_finite(wasm_f32x4_mul(acc[r][i], s)));
    } else {
      float tmp[4 * VECS];  // the output ends inside this tile: store what exists
      for (size_t i = 0; i < VECS; ++i) store(tmp + 4 * i, clamp_to_finite(wasm_f32x4_mul(acc[r][i], s)));
      std::memcpy(dst[r], tmp, valid * sizeof(float));
    }
  }
}

// dst rows (4·tiles, out_cols each) = clamp(scale[r] · A·Mᵀ) for A(4·tiles × depth), tile t
// interleaved at a + t·a_stride, and M(rows×depth) packed. Each 8-row chunk of a panel of M (4×8
// or, at a panel's end, 4×4) is loaded once from memory and then read from L1 by every tile.
void tiles_times_packed(const float* a, size_t a_stride, size_t tiles, const float* packed,
                        size_t rows, size_t depth, const float* scale, float* const* dst,
                        size_t out_cols) {
  const size_t padded = padded_rows(rows);
  for (size_t first = 0, panel = 0; first < padded; first += kPanelWidth, ++panel) {
    const size_t width = panel_width(rows, panel);
    const float* p = packed + first * depth;
    for (size_t c = 0; c < width; c += 8) {
      const size_t col = first + c;
      if (col >= out_cols) return;
      for (size_t t = 0; t < tiles; ++t) {
        float* const d[4] = {dst[4 * t] + col, dst[4 * t + 1] + col, dst[4 * t + 2] + col,
                             dst[4 * t + 3] + col};
        if (c + 8 <= width) {
          v128_t acc[4][2];
          tile_4xv<2>(a + t * a_stride, p + c, width, depth, acc);
          store_tile<2>(acc, scale + 4 * t, d, out_cols - col);
        } else {
          v128_t acc[4][1];
          tile_4xv<1>(a + t * a_stride, p + c, width, depth, acc);
          store_tile<1>(acc, scale + 4 * t, d, out_cols - col);
        }
      }
    }
  }
}

}  // namespace

namespace wasmsimd {

void read_batch(const float* queries, size_t b, const float* packed_keys,
                const float* packed_values, MemoryShape shape, float temp, float* out,
                float* scratch) {
  const size_t n = shape.n, d = shape.d, dv = shape.dv;
  if (n == 0) {
    // An empty memory reads zeros. Its packed matrices may be null, and the tile loop below would
    // offset them (null + offset is undefined behaviour: found by UBSan, scripts/test-sanitize).
    std::memset(out, 0, b * dv * sizeof(float));
    return;
  }
  const size_t stride = padded_rows(n);
  const size_t depth = stride > d ? stride : d;  // of an interleaved tile: d for Q, n for E
  float* scores = scratch;                                  // kBatchRowBlock × padded_rows(n)
  float* interleaved = scratch + kBatchRowBlock * stride;   // kBatchRowBlock × depth
  const float inv_temp = 1.0f / temp;
  size_t r0 = 0;
  while (r0 + kBatchRowTile <= b) {
    // A block of up to 16 rows: whole tiles of 4 only.
    const size_t rows = (b - r0) / kBatchRowTile * kBatchRowTile < kBatchRowBlock
                            ? (b - r0) / kBatchRowTile * kBatchRowTile
                            : kBatchRowBlock;
    const size_t tiles = rows / kBatchRowTile;
    const float* q[kBatchRowBlock];
    float* e[kBatchRowBlock];
    float* o[kBatchRowBlock];
    float by_temp[kBatchRowBlock], inv_sum[kBatchRowBlock];
    for (size_t r = 0; r < rows; ++r) {
      q[r] = queries + (r0 + r) * d;
      e[r] = scores + r * stride;
      o[r] = out + (r0 + r) * dv;
      by_temp[r] = inv_temp;
    }

    // 1. scores of the block = Q_block·Kᵀ / temp
    for (size_t t = 0; t < tiles; ++t) interleave_rows(q + 4 * t, d, interleaved + t * 4 * depth);
    tiles_times_packed(interleaved, 4 * depth, tiles, packed_keys, n, d, by_temp, e, stride);
    // 2. e = exp(scores − max) per row, and 1/Σ e
    for (size_t r = 0; r < rows; ++r) inv_sum[r] = n > 0 ? 1.0f / exp_and_sum(e[r], n) : 0.0f;
    // 3. out rows = E_block·V / Σ e
    for (size_t t = 0; t < tiles; ++t) {
      const float* const et[4] = {e[4 * t], e[4 * t + 1], e[4 * t + 2], e[4 * t + 3]};
      interleave_rows(et, n, interleaved + t * 4 * depth);
    }
    tiles_times_packed(interleaved, 4 * depth, tiles, packed_values, dv, n, inv_sum, o, dv);
    r0 += rows;
  }
  // The last 1-3 rows, one at a time.
  for (; r0 < b; ++r0) {
    read_one(queries + r0 * d, packed_keys, packed_values, shape, temp, out + r0 * dv, nullptr,
             scratch);
  }
}

void packed_times_vectors(const float* x, size_t b, const float* packed, size_t rows, size_t cols,
                          float scale, float* out, float* scratch) {
  const size_t stride = padded_rows(rows);
  float* interleaved = scratch;  // kBatchRowBlock × cols
  size_t r0 = 0;
  while (r0 + kBatchRowTile <= b) {
    // A block of whole tiles of 4 rows, up to 16: M streams once per block.
    const size_t whole = (b - r0) / kBatchRowTile * kBatchRowTile;
    const size_t count = whole < kBatchRowBlock ? whole : kBatchRowBlock;
    const float* xs[kBatchRowBlock];
    float* o[kBatchRowBlock];
    float scales[kBatchRowBlock];
    for (size_t r = 0; r < count; ++r) {
      xs[r] = x + (r0 + r) * cols;
      o[r] = out + (r0 + r) * stride;
      scales[r] = scale;
    }
    for (size_t t = 0; t < count / kBatchRowTile; ++t) interleave_rows(xs + 4 * t, cols, interleaved + t * 4 * cols);
    tiles_times_packed(interleaved, 4 * cols, count / kBatchRowTile, packed, rows, cols, scales, o, stride);
    r0 += count;
  }
  // The last 1-3 rows, one at a time.
  for (; r0 < b; ++r0) packed_times_vector(x + r0 * cols, packed, rows, cols, scale, out + r0 * stride);
}

}  // namespace wasmsimd
namespace {

// ---- Causal read against a row-major context -----------------------------------------------------

// q · key for one row-major key, the d % 4 last dimensions scalar.
inline float dot_row(const float* q, const float* key, size_t d) {
  const size_t d4 = d / 4 * 4;
  v128_t acc = zeros();
  for (size_t k = 0; k < d4; k += 4) acc = madd(acc, load(q + k), load(key + k));
  float dot = horizontal_sum(acc);
  for (size_t k = d4; k < d; ++k) dot += q[k] * key[k];
  return dot;
}

// out(dv) = scale · Σ_j w[j]·values[j]  (values n×dv, row-major)
void weighted_sum_rows(const float* w, const float* values, size_t n, size_t dv, float scale,
                       float* out) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  size_t c = 0;
  for (; c + 16 <= dv; c += 16) {  // 16 columns: 4 accumulators over all n rows
    v128_t acc[4] = {zeros(), zeros(), zeros(), zeros()};
    const float* v = values + c;
    for (size_t j = 0; j < n; ++j, v += dv) {
      const v128_t wj = splat_load(w + j);
      for (size_t i = 0; i < 4; ++i) acc[i] = madd(acc[i], wj, load(v + 4 * i));
    }
    for (size_t i = 0; i < 4; ++i) store(out + c + 4 * i, wasm_f32x4_mul(acc[i], vscale));
  }
  for (; c + 4 <= dv; c += 4) {
    v128_t acc = zeros();
    for (size_t j = 0; j < n; ++j) acc = madd(acc, splat_load(w + j), load(values + j * dv + c));
    store(out + c, wasm_f32x4_mul(acc, vscale));
  }
  for (; c < dv; ++c) {  // the last 1-3 columns
    float acc = 0.0f;
    for (size_t j = 0; j < n; ++j) acc += w[j] * values[j * dv + c];
    out[c] = acc * scale;
  }
}

}  // namespace

namespace wasmsimd {

void read_causal(const float* queries, size_t first, size_t rows, const float* keys,
                 const float* values, size_t d, size_t dv, const float* bias, float temp,
                 float* out, float* weights, float* scratch) {
  const float inv_temp = 1.0f / temp;
  const v128_t vinv_temp = wasm_f32x4_splat(inv_temp);
  const size_t d4 = d / 4 * 4;
  for (size_t r = 0; r < rows; ++r) {
    const size_t p = first + r;  // the position this row reads for: it sees rows 0 .. p-1
    const float* q = queries + r * d;
    float* w = scratch;  // p

    // 1. scores = q·C[j] / temp + bias(p − j), 4 keys at a time, reduced by one transpose
    size_t j = 0;
    for (; j + 4 <= p; j += 4) {
      const float* key = keys + j * d;
      v128_t a0 = zeros(), a1 = zeros(), a2 = zeros(), a3 = zeros();
      for (size_t k = 0; k < d4; k += 4) {
        const v128_t qk = load(q + k);
        a0 = madd(a0, qk, load(key + k));
        a1 = madd(a1, qk, load(key + d + k));
        a2 = madd(a2, qk, load(key + 2 * d + k));
        a3 = madd(a3, qk, load(key + 3 * d + k));
      }
      v128_t dots = horizontal_sums4(a0, a1, a2, a3);
      if (d4 < d) {
        float tail[4] = {0, 0, 0, 0};
        for (size_t i = 0; i < 4; ++i)
          for (size_t k = d4; k < d; ++k) tail[i] += q[k] * key[i * d + k];
        dots = wasm_f32x4_add(dots, load(tail));
      }
      v128_t s = wasm_f32x4_mul(dots, vinv_temp);
      if (bias != nullptr) {
        // keys j..j+3 are at distances p−j .. p−j−3: bias[p−j−1] .. bias[p−j−4], reversed
        const v128_t b = load(bias + (p - j - 4));
        s = wasm_f32x4_add(s, wasm_i32x4_shuffle(b, b, 3, 2, 1, 0));
      }
      store(w + j, clamp_to_finite(s));
    }
    for (; j < p; ++j) {
      const float score = dot_row(q, keys + j * d, d) * inv_temp + (bias != nullptr ? bias[p - j - 1] : 0.0f);
      w[j] = score > FLT_MAX ? FLT_MAX : (score < -FLT_MAX ? -FLT_MAX : score);
    }
    // 2. e = exp(scores − max); 3. out = w·C / Σ e   (zeros when p = 0)
    const float sum = exp_and_sum(w, p);
    const float inv_sum = p > 0 ? 1.0f / sum : 0.0f;
    weighted_sum_rows(w, values, p, dv, inv_sum, out + r * dv);
    if (weights != nullptr) {
      for (size_t i = 0; i < p; ++i) weights[i] = w[i] * inv_sum;
    }
  }
}

}  // namespace wasmsimd
namespace wasmsimd {

// ---- Training kernels: matrix product and softmax ---------------------------------------------

// x(n) ← softmax(x), max-subtracted: the vector exp of exp_and_sum, then one pass scaling by 1/Σ.
void softmax(float* x, size_t n) {
  if (n == 0) return;
  const float inv_sum = 1.0f / exp_and_sum(x, n);  // Σ ≥ 1
  const v128_t vinv_sum = wasm_f32x4_splat(inv_sum);
  size_t j = 0;
  for (; j + 4 <= n; j += 4) store(x + j, wasm_f32x4_mul(load(x + j), vinv_sum));
  for (; j < n; ++j) x[j] *= inv_sum;  // the last 1-3
}

}  // namespace wasmsimd
namespace {

// c(m×n) = [c +] a(m×k)·b(k×n) in register tiles of 4 rows × 8 columns of c (8 vectors of sums,
// plus 2 loaded vectors of a row of b and the broadcasts of a: what fits SSE2's and V8's 16 vector
// registers). b is cut into blocks of kGemmDepthBlock rows × kGemmColumnBlock columns, each
// copied to the stack as panels of 8 columns (pack_b_panels) and then read by every row tile of a
// from L1, in order: read in place, rows of b 4 KB apart (N = 1024 slots) all fall in one L1 set
// and were fetched from L2 again by every tile. Each tile's 4 rows of a are copied side by side
// (pack_a_tile), so that one load gives a(i..i+3, p) for the 4 broadcasts whatever a's strides;
// 4 tiles (16 rows) are packed at once, so that an Aᵀ stored is read a whole cache line at a time.
constexpr size_t kGemmRowTile = 4;
constexpr size_t kGemmRowPanel = 16;          // rows of a packed at once: 4 tiles
constexpr size_t kGemmDepthBlock = 128;       // the packed panel of a: 16 × 128 floats = 8 KB
constexpr size_t kGemmColumnBlock = 64;       // the packed block of b: 128 × 64 floats = 32 KB

// packed(depth×4)[p·4 + r] = a(r, p) for the tile's rows r < rows; the missing rows of a last tile
// of 1-3 rows are zeros (their sums are computed, never stored).
void pack_a_tile(const float* a, size_t a_row_step, size_t a_col_step, size_t rows, size_t depth,
                 float* packed) {
  size_t p = 0;
  if (rows == kGemmRowTile && a_col_step == 1) {
    // A row-major: 4×4 blocks transposed in registers.
    const float* row[4] = {a, a + a_row_step, a + 2 * a_row_step, a + 3 * a_row_step};
    for (; p + 4 <= depth; p += 4) {
      const v128_t r0 = load(row[0] + p), r1 = load(row[1] + p), r2 = load(row[2] + p),
                   r3 = load(row[3] + p);
      const v128_t t01_lo = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);  // a00 a10 a01 a11
      const v128_t t01_hi = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);  // a02 a12 a03 a13
      const v128_t t23_lo = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
      const v128_t t23_hi = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
      store(packed + 4 * p, wasm_i32x4_shuffle(t01_lo, t23_lo, 0, 1, 4, 5));
      store(packed + 4 * p + 4, wasm_i32x4_shuffle(t01_lo, t23_lo, 2, 3, 6, 7));
      store(packed + 4 * p + 8, wasm_i32x4_shuffle(t01_hi, t23_hi, 0, 1, 4, 5));
      store(packed + 4 * p + 12, wasm_i32x4_shuffle(t01_hi, t23_hi, 2, 3, 6, 7));
    }
  }
  // Any other strides, the last 1-3 depths of a row-major A, and a last tile of 1-3 rows.
  // (An Aᵀ stored is packed by pack_a_panel, 16 rows at a time.)
  for (; p < depth; ++p) {
    for (size_t r = 0; r < kGemmRowTile; ++r) {
      packed[4 * p + r] = r < rows ? a[r * a_row_step + p * a_col_step] : 0.0f;
    }
  }
}

// packed(tiles × depth × 4)[t·depth·4 + p·4 + r] = a(4t + r, p): a panel of rows ≤ 16 rows of a as
// ⌈rows/4⌉ packed tiles.
void pack_a_panel(const float* a, size_t a_row_step, size_t a_col_step, size_t rows, size_t depth,
                  float* packed) {
  size_t full_tiles = rows / kGemmRowTile, t = 0;
  if (a_row_step == 1) {
    // Aᵀ stored: a(0..15, p) is one run of memory, read once for the 4 tiles. Packed tile by
    // tile, rows of Aᵀ 4 KB apart (N = 1024) fell in one L1 set and came from L2 for each tile.
    for (size_t p = 0; p < depth; ++p) {
      for (size_t i = 0; i < full_tiles; ++i) store(packed + i * 4 * depth + 4 * p, load(a + p * a_col_step + 4 * i));
    }
    t = full_tiles;
  }
  for (; t * kGemmRowTile < rows; ++t) {
    const size_t tile_rows = rows - t * kGemmRowTile < kGemmRowTile ? rows - t * kGemmRowTile : kGemmRowTile;
    pack_a_tile(a + t * kGemmRowTile * a_row_step, a_row_step, a_col_step, tile_rows, depth,
                packed + t * 4 * depth);
  }
}

// packed(cols8/8 panels × depth × 8)[(j/8)·depth·8 + p·8 + j%8] = b(p, j) for the first cols8
// (a multiple of 8) columns of a block of b, read row by row.
void pack_b_panels(const float* b, size_t b_row_step, size_t depth, size_t cols8, float* packed) {
  for (size_t p = 0; p < depth; ++p, b += b_row_step) {
    float* panel_row = packed + 8 * p;
    for (size_t j = 0; j < cols8; j += 8, panel_row += 8 * depth) {
      store(panel_row, load(b + j));
      store(panel_row + 4, load(b + j + 4));
    }
  }
}

// The 4 broadcasts of a(0..3, p): one vector of a packed tile, each lane in every lane.
inline v128_t lane0(v128_t v) { return wasm_i32x4_shuffle(v, v, 0, 0, 0, 0); }
inline v128_t lane1(v128_t v) { return wasm_i32x4_shuffle(v, v, 1, 1, 1, 1); }
inline v128_t lane2(v128_t v) { return wasm_i32x4_shuffle(v, v, 2, 2, 2, 2); }
inline v128_t lane3(v128_t v) { return wasm_i32x4_shuffle(v, v, 3, 3, 3, 3); }

// row(4) (+)= sum, for one vector of sums in row r of c.
inline void store_sum(float* c, v128_t sum, bool add) { store(c, add ? wasm_f32x4_add(load(c), sum) : sum); }

// The micro-kernel: c(rows×8) (+)= tile(4×depth)·b(depth×8), for rows ≤ 4 of a packed tile of a.
// Eight named sums, stored to a local tile before the rows and `add` are looked at: with an
// array of sums, or with the conditional stores right after the loop, GCC shuffled the sums
// between registers every step (12 extra moves and a spill per step, at 60% of the speed).
inline void gemm_tile_4x8(const float* packed_a, const float* b, size_t b_row_step, size_t depth,
                          size_t rows, float* c, size_t c_row_step, bool add) {
  v128_t c00 = zeros(), c01 = zeros(), c10 = zeros(), c11 = zeros();
  v128_t c20 = zeros(), c21 = zeros(), c30 = zeros(), c31 = zeros();
  for (size_t p = 0; p < depth; ++p, b += b_row_step, packed_a += 4) {
    const v128_t b0 = load(b), b1 = load(b + 4);  // b(p, 0..7)
    const v128_t a_col = load(packed_a);          // a(0..3, p)
    const v128_t a0 = lane0(a_col), a1 = lane1(a_col), a2 = lane2(a_col), a3 = lane3(a_col);
    c00 = madd(c00, a0, b0);
    c01 = madd(c01, a0, b1);
    c10 = madd(c10, a1, b0);
    c11 = madd(c11, a1, b1);
    c20 = madd(c20, a2, b0);
    c21 = madd(c21, a2, b1);
    c30 = madd(c30, a3, b0);
    c31 = madd(c31, a3, b1);
  }
  float tile[4 * 8];  // the sums, row by row
  store(tile, c00);
  store(tile + 4, c01);
  store(tile + 8, c10);
  store(tile + 12, c11);
  store(tile + 16, c20);
  store(tile + 20, c21);
  store(tile + 24, c30);
  store(tile + 28, c31);
  // The last tile may have 1-3 rows: its missing rows' sums (of zeros) are dropped.
  for (size_t r = 0; r < rows; ++r, c += c_row_step) {
    store_sum(c, load(tile + 8 * r), add);
    store_sum(c + 4, load(tile + 8 * r + 4), add);
  }
}

// The same for 4 columns: c(rows×4) (+)= tile(4×depth)·b(depth×4).
inline void gemm_tile_4x4(const float* packed_a, const float* b, size_t b_row_step, size_t depth,
                          size_t rows, float* c, size_t c_row_step, bool add) {
  v128_t sums[4] = {zeros(), zeros(), zeros(), zeros()};
  for (size_t p = 0; p < depth; ++p, b += b_row_step, packed_a += 4) {
    const v128_t b0 = load(b), a_col = load(packed_a);
    sums[0] = madd(sums[0], lane0(a_col), b0);
    sums[1] = madd(sums[1], lane1(a_col), b0);
    sums[2] = madd(sums[2], lane2(a_col), b0);
    sums[3] = madd(sums[3], lane3(a_col), b0);
  }
  for (size_t r = 0; r < rows; ++r) store_sum(c + r * c_row_step, sums[r], add);
}

// c(rows×cols) (+)= tile·b for one packed tile of a (rows ≤ 4, depth) and the last cols < 8
// columns of b(depth×cols), read in place: 4 columns, then the last 1-3 one at a time, the 4 rows'
// sums of a column in one vector.
void gemm_edge_columns(const float* packed_a, size_t rows, size_t depth, const float* b,
                       size_t b_row_step, size_t cols, float* c, size_t c_row_step, bool add) {
  size_t j = 0;
  if (cols >= 4) {
    gemm_tile_4x4(packed_a, b, b_row_step, depth, rows, c, c_row_step, add);
    j = 4;
  }
  for (; j < cols; ++j) {
    v128_t sums = zeros();  // (c(0, j), c(1, j), c(2, j), c(3, j))
    for (size_t p = 0; p < depth; ++p) sums = madd(sums, load(packed_a + 4 * p), splat_load(b + p * b_row_step + j));
    float column[4];
    store(column, sums);
    for (size_t r = 0; r < rows; ++r) c[r * c_row_step + j] = add ? c[r * c_row_step + j] + column[r] : column[r];
  }
}

// c(m×n) = [c +] a(m×k)·b(k×n), a(i, p) = a[i·a_row_step + p·a_col_step] (mem_read.h).
void gemm(size_t m, size_t n, size_t k, const float* a, size_t a_row_step, size_t a_col_step,
          const float* b, size_t b_row_step, float* c, size_t c_row_step, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum: c = 0, or c unchanged. (a and b may be null: no pointer arithmetic on them.)
    if (!accumulate) {
      for (size_t i = 0; i < m; ++i) std::memset(c + i * c_row_step, 0, n * sizeof(float));
    }
    return;
  }
  float packed_a[kGemmRowPanel * kGemmDepthBlock];    // ⌈rows/4⌉ tiles × depth × 4
  float packed_b[kGemmDepthBlock * kGemmColumnBlock];  // cols8/8 panels × depth × 8
  for (size_t j0 = 0; j0 < n; j0 += kGemmColumnBlock) {
    const size_t cols = n - j0 < kGemmColumnBlock ? n - j0 : kGemmColumnBlock;
    const size_t cols8 = cols / 8 * 8;  // the block's columns in whole panels; the rest read in place
    for (size_t p0 = 0; p0 < k; p0 += kGemmDepthBlock) {
      const size_t depth = k - p0 < kGemmDepthBlock ? k - p0 : kGemmDepthBlock;
      const bool add = accumulate || p0 > 0;  // blocks after the first add to what the first wrote
      // 1. the block of b (depth × cols) into panels of 8 columns
      const float* b_block = b + p0 * b_row_step + j0;
      pack_b_panels(b_block, b_row_step, depth, cols8, packed_b);
      for (size_t i0 = 0; i0 < m; i0 += kGemmRowPanel) {
        // 2. a panel of a (up to 16 rows × depth) into tiles of 4 rows side by side
        const size_t panel_rows = m - i0 < kGemmRowPanel ? m - i0 : kGemmRowPanel;
        pack_a_panel(a + i0 * a_row_step + p0 * a_col_step, a_row_step, a_col_step, panel_rows,
                     depth, packed_a);
        // 3. c(rows × cols) (+)= tile·block for each tile, 8 columns at a time, then the last 1-7
        for (size_t t = 0; t * kGemmRowTile < panel_rows; ++t) {
          const size_t rows = panel_rows - t * kGemmRowTile < kGemmRowTile ? panel_rows - t * kGemmRowTile : kGemmRowTile;
          const float* tile = packed_a + t * 4 * depth;
          float* c_tile = c + (i0 + t * kGemmRowTile) * c_row_step + j0;
          for (size_t j = 0; j < cols8; j += 8) {
            gemm_tile_4x8(tile, packed_b + j * depth, 8, depth, rows, c_tile + j, c_row_step, add);
          }
          gemm_edge_columns(tile, rows, depth, b_block + cols8, b_row_step, cols - cols8,
                            c_tile + cols8, c_row_step, add);
        }
      }
    }
  }
}

}  // namespace

namespace wasmsimd {

// Each 16 bytes of a row are one v128: widened to two i16x8, less the query's halves, and each
// half's squares summed in pairs by i32x4.dot_i16x8_s; four rows' four partial sums are added
// across by two rounds of shuffles into one i32x4 of four distances.
void row_distances(const int8_t* rows, size_t n, size_t row_bytes, const int8_t* query, int32_t* out) {
  auto partial = [&](size_t j) {  // four sums whose total is row j's distance
    v128_t sum = wasm_i32x4_splat(0);
    for (size_t c = 0; c < row_bytes; c += kNearRowBytes) {
      const v128_t q = wasm_v128_load(query + c), row = wasm_v128_load(rows + j * row_bytes + c);
      const v128_t low = wasm_i16x8_sub(wasm_i16x8_extend_low_i8x16(row), wasm_i16x8_extend_low_i8x16(q));
      const v128_t high = wasm_i16x8_sub(wasm_i16x8_extend_high_i8x16(row), wasm_i16x8_extend_high_i8x16(q));
      sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_dot_i16x8(low, low), wasm_i32x4_dot_i16x8(high, high)));
    }
    return sum;
  };
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const v128_t a = partial(j), b = partial(j + 1), c = partial(j + 2), d = partial(j + 3);
    const v128_t ab = wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 4, 2, 6), wasm_i32x4_shuffle(a, b, 1, 5, 3, 7));
    const v128_t cd = wasm_i32x4_add(wasm_i32x4_shuffle(c, d, 0, 4, 2, 6), wasm_i32x4_shuffle(c, d, 1, 5, 3, 7));
    wasm_v128_store(out + j, wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7)));
  }
  for (; j < n; ++j) {
    const v128_t p = partial(j);
    out[j] = wasm_i32x4_extract_lane(p, 0) + wasm_i32x4_extract_lane(p, 1) + wasm_i32x4_extract_lane(p, 2) +
             wasm_i32x4_extract_lane(p, 3);
  }
}

}  // namespace wasmsimd

const KernelSet kernels_wasmsimd = {"wasmsimd",          wasmsimd::read_one,
                                    wasmsimd::read_batch, wasmsimd::read_causal,
                                    wasmsimd::packed_times_vector, wasmsimd::packed_times_vectors,
                                    gemm, wasmsimd::softmax, wasmsimd::row_distances,
                                    wasmsimd::Int8::read_one, wasmsimd::Int8::read_batch,
                                    wasmsimd::Int8::read_causal, wasmsimd::Int8::rows_times_vector,
                                    wasmsimd::Int8::rows_times_vectors};

}  // namespace memread
