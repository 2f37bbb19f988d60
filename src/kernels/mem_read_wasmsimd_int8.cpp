// The wasmsimd variant's int8 kernels (the reads themselves are int8_reads.h): int8 rows widened
// to int16 in registers and multiplied by int16 with i32x4.dot_i16x8_s, which sums each pair of
// products into one int32 lane; sums stay exact in int32 within a block of kInt8Block entries.
//   scores        rows are row-major, so dimension pairs k, k+1 are adjacent: 16 codes of a row
//                 are one load, widened into two i16x8 that meet the query's 16 entries; four rows
//                 share each query load and are reduced into one i32x4 of four dots by shuffles.
//   weighted sum  slot pairs j, j+1 must share a lane: 16 codes of rows j and j+1 are interleaved
//                 byte by byte (i8x16.shuffle) into the pairs of 16 columns, widened, and met by the
//                 splat of the weight pair (w_j, w_j+1): 4 accumulators of 4 columns each.
#include <cfloat>
#include <cstring>

#include "mem_read_wasmsimd.h"
#include "simd128.h"

namespace memread {
namespace {

// 16 codes from p; only the first `count` are real when count < 16, the rest read as zeros.
inline v128_t load_codes(const int8_t* p, size_t count) {
  if (count >= 16) return wasm_v128_load(p);
  alignas(16) int8_t part[16] = {0};
  std::memcpy(part, p, count);
  return wasm_v128_load(part);
}

// acc + the products of 16 codes with 16 int16 entries, summed in pairs into 4 int32 lanes.
inline v128_t add_dot16(v128_t acc, v128_t codes, v128_t low, v128_t high) {
  acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(codes), low));
  return wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(codes), high));
}

// (Σ a0, Σ a1, Σ a2, Σ a3) of four int32x4 by transposing.
inline v128_t horizontal_sums4(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  const v128_t s01 = wasm_i32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
  const v128_t s23 = wasm_i32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 1, 4, 5), wasm_i32x4_shuffle(s01, s23, 2, 3, 6, 7));
}

// The dots of 4 rows (`stride` codes apart) with q over dimensions [first, end): one i32x4. Whole
// chunks of 16 codes in the loop, with nothing in it but loads and arithmetic; the last 1-15
// dimensions after it (q is zero past d, so the short loads' zeros meet zeros).
inline v128_t dots4(const int16_t* q, const int8_t* row, size_t stride, size_t first, size_t end) {
  v128_t a0 = wasm_i32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
  const int8_t *r0 = row, *r1 = row + stride, *r2 = row + 2 * stride, *r3 = row + 3 * stride;
  size_t k = first;
  for (; k + 16 <= end; k += 16) {
    const v128_t low = wasm_v128_load(q + k), high = wasm_v128_load(q + k + 8);
    a0 = add_dot16(a0, wasm_v128_load(r0 + k), low, high);
    a1 = add_dot16(a1, wasm_v128_load(r1 + k), low, high);
    a2 = add_dot16(a2, wasm_v128_load(r2 + k), low, high);
    a3 = add_dot16(a3, wasm_v128_load(r3 + k), low, high);
  }
  if (k < end) {
    const v128_t low = wasm_v128_load(q + k), high = wasm_v128_load(q + k + 8);
    a0 = add_dot16(a0, load_codes(r0 + k, end - k), low, high);
    a1 = add_dot16(a1, load_codes(r1 + k, end - k), low, high);
    a2 = add_dot16(a2, load_codes(r2 + k, end - k), low, high);
    a3 = add_dot16(a3, load_codes(r3 + k, end - k), low, high);
  }
  return horizontal_sums4(a0, a1, a2, a3);
}

inline int32_t dot1(const int16_t* q, const int8_t* row, size_t first, size_t end) {
  v128_t acc = wasm_i32x4_splat(0);
  for (size_t k = first; k < end; k += 16) {
    acc = add_dot16(acc, load_codes(row + k, end - k), wasm_v128_load(q + k), wasm_v128_load(q + k + 8));
  }
  return wasm_i32x4_extract_lane(acc, 0) + wasm_i32x4_extract_lane(acc, 1) + wasm_i32x4_extract_lane(acc, 2) +
         wasm_i32x4_extract_lane(acc, 3);
}

inline v128_t clamp_to_finite(v128_t v) {
  return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(-FLT_MAX)), wasm_f32x4_splat(FLT_MAX));
}

// acc + (w_j, w_j+1)·(16 codes of row j at a, of row j+1 at b): the rows interleaved byte by byte
// into pairs of one column, widened, and each pair summed under the weight pair by dot_i16x8.
inline void add_pair16(v128_t acc[4], v128_t pair, v128_t ra, v128_t rb) {
  const v128_t low = wasm_i8x16_shuffle(ra, rb, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const v128_t high = wasm_i8x16_shuffle(ra, rb, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  acc[0] = wasm_i32x4_add(acc[0], wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(low), pair));
  acc[1] = wasm_i32x4_add(acc[1], wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(low), pair));
  acc[2] = wasm_i32x4_add(acc[2], wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(high), pair));
  acc[3] = wasm_i32x4_add(acc[3], wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(high), pair));
}

// acc[0..3] (columns c .. c+15, `cols` ≤ 16 of them real) + Σ over slot pairs of [first, end) of
// (w_j, w_j+1)·(rows j, j+1). With end − first odd, the last slot pairs with itself under weight
// codes[end] = 0.
template <bool kFullColumns>
inline void weighted_columns16(const int16_t* w, const int8_t* codes, size_t dv, size_t first, size_t end,
                               size_t cols, v128_t acc[4]) {
  auto load_row = [&](const int8_t* p) { return kFullColumns ? wasm_v128_load(p) : load_codes(p, cols); };
  size_t j = first;
  for (; j + 2 <= end; j += 2) {
    const int8_t* a = codes + j * dv;
    add_pair16(acc, wasm_v128_load32_splat(w + j), load_row(a), load_row(a + dv));
  }
  if (j < end) {
    const v128_t last = load_row(codes + j * dv);
    add_pair16(acc, wasm_v128_load32_splat(w + j), last, last);
  }
}

}  // namespace

namespace wasmsimd {

void Int8Kernels::scores(const int16_t* q, float factor, Int8Rows rows, float* out) {
  const size_t d = rows.cols;
  const v128_t vfactor = wasm_f32x4_splat(factor);
  size_t j = 0;
  for (; j + 4 <= rows.rows; j += 4) {
    v128_t dot = wasm_f32x4_splat(0.0f);
    for (size_t first = 0; first < d; first += kInt8Block) {
      const size_t end = d - first < kInt8Block ? d : first + kInt8Block;
      dot = wasm_f32x4_add(dot, wasm_f32x4_convert_i32x4(dots4(q, rows.codes + j * d, d, first, end)));
    }
    const v128_t scores = wasm_f32x4_mul(wasm_f32x4_mul(dot, vfactor), wasm_v128_load(rows.scales + j));
    wasm_v128_store(out + j, clamp_to_finite(scores));
  }
  for (; j < rows.rows; ++j) {
    float dot = 0.0f;
    for (size_t first = 0; first < d; first += kInt8Block) {
      dot += float(dot1(q, rows.codes + j * d, first, d - first < kInt8Block ? d : first + kInt8Block));
    }
    out[j] = clamp_score(dot * factor * rows.scales[j]);
  }
}

void Int8Kernels::weighted_sum(const int16_t* w, const float* block_scales, Int8Rows rows, float* out) {
  const size_t n = rows.rows, dv = rows.cols;
  if (dv > 0) std::memset(out, 0, dv * sizeof(float));
  for (size_t first = 0, b = 0; first < n; first += kInt8Block, ++b) {
    const size_t end = n - first < kInt8Block ? n : first + kInt8Block;
    const v128_t scale = wasm_f32x4_splat(block_scales[b]);
    for (size_t c = 0; c < dv; c += 16) {
      const size_t cols = dv - c < 16 ? dv - c : 16;
      v128_t acc[4] = {wasm_i32x4_splat(0), wasm_i32x4_splat(0), wasm_i32x4_splat(0), wasm_i32x4_splat(0)};
      if (cols == 16) {
        weighted_columns16<true>(w, rows.codes + c, dv, first, end, cols, acc);
      } else {
        weighted_columns16<false>(w, rows.codes + c, dv, first, end, cols, acc);
      }
      // out[c .. c + cols) += block scale · sums
      alignas(16) float sums[16];
      float* target = cols == 16 ? out + c : sums;
      if (cols < 16) std::memcpy(sums, out + c, cols * sizeof(float));
      for (size_t i = 0; i < 4; ++i) {
        const v128_t add = wasm_f32x4_mul(scale, wasm_f32x4_convert_i32x4(acc[i]));
        wasm_v128_store(target + 4 * i, wasm_f32x4_add(wasm_v128_load(target + 4 * i), add));
      }
      if (cols < 16) std::memcpy(out + c, sums, cols * sizeof(float));
    }
  }
}

}  // namespace wasmsimd
}  // namespace memread
