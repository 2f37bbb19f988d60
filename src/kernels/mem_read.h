// The one operation of memread, as kernels:  mem(q, K, V, τ) = softmax(q·Kᵀ / τ) · V
//
// Dimension letters, used in every shape comment of src/kernels:
//   n  slots (keys) in the memory          d   key (and query) dimension
//   dv value dimension                     b   query rows in a batch
//
// Contract shared by every variant (scalar, wasmsimd, ...):
//   - softmax subtracts the row maximum before exponentiating, so scores of any finite magnitude
//     give finite weights; a score that overflows float becomes ±FLT_MAX;
//   - temp is finite and > 0 (callers check it; kernels do not);
//   - a read of an empty memory (n = 0, or a causal row with no previous rows) writes zeros;
//   - finite inputs whose dot products stay within float range never give NaN or Inf.
// The bank kernels read K and V in the panel layout of pack_panels (below); the causal kernel reads
// its context row-major, because the context grows one row at a time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memread {

// ---- The panel layout ---------------------------------------------------------------------------
// A bank is re-laid once, when it is loaded, so that the kernels' inner loops read memory in order
// and one 128-bit load holds 4 useful lanes:
//   - the rows of a matrix M(rows×cols) are padded with zero rows to a multiple of 4 and cut into
//     panels of kPanelWidth rows (the last panel may be narrower: 4, 8, ... kPanelWidth−4 rows);
//   - each panel is stored column by column: column c of the panel is its rows' c-th entries,
//     side by side. With p = r / kPanelWidth and w the width of panel p:
//         packed[p·kPanelWidth·cols + c·w + (r − p·kPanelWidth)] = M[r][c]
// Keys are packed as M = K (n×d): one load is dimension k of 4 keys, and the scores of a panel's
// keys accumulate in kPanelWidth/4 vectors with no horizontal sum. Values are packed as M = Vᵀ
// (dv×n): one load is 4 value columns of slot j, so the weighted sum of values is the same loop.
// 24 rows (6 vectors) is as many accumulators as V8 keeps in registers next to their operands,
// and enough of them to hide the latency of the adds.
constexpr size_t kPanelWidth = 24;

constexpr size_t padded_rows(size_t rows) { return (rows + 3) / 4 * 4; }
// Width of panel `panel` of a matrix with `rows` rows.
constexpr size_t panel_width(size_t rows, size_t panel) {
  return padded_rows(rows) - panel * kPanelWidth < kPanelWidth ? padded_rows(rows) - panel * kPanelWidth
                                                                : kPanelWidth;
}
// Floats of a packed matrix: padded_rows(rows)·cols.
constexpr size_t packed_floats(size_t rows, size_t cols) { return padded_rows(rows) * cols; }

// Packs M(rows×cols), where M[r][c] = source[r·row_step + c·col_step]:
//   keys:   pack_panels(K, n, d, d, 1, packed)        values: pack_panels(V, dv, n, 1, dv, packed)
void pack_panels(const float* source, size_t rows, size_t cols, size_t row_step, size_t col_step,
                 float* packed);

// ---- Kernel signatures ----------------------------------------------------------------------------

struct MemoryShape {
  size_t n;   // slots
  size_t d;   // key dimension
  size_t dv;  // value dimension
};

// Batches are read in blocks of up to kBatchRowBlock query rows, each one pass over K and V, in
// register tiles of kBatchRowTile rows.
constexpr size_t kBatchRowTile = 4;
constexpr size_t kBatchRowBlock = 16;
// Scratch floats a bank read needs: a row block of scores, the same block interleaved (scores or
// queries, whichever is longer), and one padded row of output.
constexpr size_t read_scratch_floats(MemoryShape shape) {
  return kBatchRowBlock * padded_rows(shape.n) +
         kBatchRowBlock * (padded_rows(shape.n) > shape.d ? padded_rows(shape.n) : shape.d) +
         padded_rows(shape.dv);
}

// Read one query.
//   q(d), packed_keys(pack of K: n×d), packed_values(pack of Vᵀ: dv×n) → out(dv)
//   weights(n): the softmax weights, written when non-null (for tracing).
//   scratch: read_scratch_floats(shape) floats.
using ReadOneFn = void (*)(const float* q, const float* packed_keys, const float* packed_values,
                           MemoryShape shape, float temp, float* out, float* weights,
                           float* scratch);

// Read a batch of queries against one memory.
//   queries(b×d), packed_keys, packed_values as above → out(b×dv)
//   scratch: read_scratch_floats(shape) floats.
using ReadBatchFn = void (*)(const float* queries, size_t b, const float* packed_keys,
                             const float* packed_values, MemoryShape shape, float temp, float* out,
                             float* scratch);

// Causal read of a context: the query at position p reads the context rows j < p.
//   queries(rows×d) are positions first .. first+rows-1;
//   keys(ctx×d), values(ctx×dv) row-major, ctx = first + rows (rows at or after p are not read);
//   score(p, j) = queries[p - first]·keys[j] / temp + bias[p - j - 1]   (bias(first+rows-1) or null)
//   → out(rows×dv); a position with no previous rows (p = 0) gets zeros.
//   weights(first): when non-null (only with rows = 1), the softmax weights of the read.
//   scratch: first + rows floats.
using ReadCausalFn = void (*)(const float* queries, size_t first, size_t rows, const float* keys,
                              const float* values, size_t d, size_t dv, const float* bias,
                              float temp, float* out, float* weights, float* scratch);

// Scores of every row of a packed matrix: out(padded_rows(rows)) = scale · M·x, for M(rows×cols)
// packed with pack_panels and x(cols). The readout's logits E·x / τ_out.
using PackedTimesVectorFn = void (*)(const float* x, const float* packed, size_t rows,
                                     size_t cols, float scale, float* out);

// The same for a batch: out(b × padded_rows(rows)), row r = scale · M·x_r, for x(b×cols); blocked
// like a batch read, so that M streams from memory once per block of rows. The readout of the
// branches a completion reads together.
//   scratch: packed_times_vectors_scratch_floats(cols) floats.
using PackedTimesVectorsFn = void (*)(const float* x, size_t b, const float* packed, size_t rows,
                                      size_t cols, float scale, float* out, float* scratch);
constexpr size_t packed_times_vectors_scratch_floats(size_t cols) { return kBatchRowBlock * cols; }

// ---- Training kernels: what the backward of a read is made of ----------------------------------
// A training step reads a whole sequence at once, so every read and its backward are matrix
// products (docs/training.md): scores S = Q·Kᵀ, out = W·V, and backward dW = dOut·Vᵀ, dV += Wᵀ·dOut,
// dQ = dS·K, dK += dSᵀ·Q. One product covers them all by taking A through two strides (A or Aᵀ).
//
// Matrix product: c(m×n) = [c +] a(m×k) · b(k×n), where
//   a(i, p) = a[i·a_row_step + p·a_col_step]   (a_col_step = 1: A row-major; a_row_step = 1: Aᵀ stored)
//   b(p, j) = b[p·b_row_step + j]              c(i, j) = c[i·c_row_step + j]
// accumulate = false overwrites c (c may then hold anything, even NaN, before the call).
// c must not overlap a or b (blocked variants read them again after writing c). With k = 0, a and b
// may be null (c becomes 0, or stays as it is when accumulating); with m = 0 or n = 0, c may be.
// The wasmsimd variant packs blocks of a and b on the stack (40 KB per call): fine with
// Emscripten 3.1.6's 5 MB default stack; later Emscriptens default to 64 KB (raise STACK_SIZE).
using GemmFn = void (*)(size_t m, size_t n, size_t k, const float* a, size_t a_row_step,
                        size_t a_col_step, const float* b, size_t b_row_step, float* c,
                        size_t c_row_step, bool accumulate);

// x(n) ← softmax(x) in place, max-subtracted (scores already include 1/temp); n = 0 does nothing.
using SoftmaxFn = void (*)(float* x, size_t n);

// ---- The memory's prefilter (src/model/memory.h) --------------------------------------------------
// Squared distances of n int8 rows of `row_bytes` (a multiple of kNearRowBytes) to one query row,
// exact in integers:
//   out(n)[j] = Σ_r (rows[j·row_bytes + r] − query[r])²      rows(n × row_bytes), query(row_bytes)
// Entries are in −127 … 127, so a distance is at most row_bytes·254² and fits int32 up to 33,000
// bytes a row.
constexpr size_t kNearRowBytes = 16;
using RowDistancesFn = void (*)(const int8_t* rows, size_t n, size_t row_bytes, const int8_t* query,
                                int32_t* out);

// ---- Int8 reads (DESIGN §11, docs/kernels.md) -----------------------------------------------------
// An int8 bank's E, K and V stay int8 in memory, row-major, one scale per row, and are read by
// integer dot products: the query (or a weight vector) is quantized to int16, and int8 × int16
// products are summed exactly in int32 over blocks of kInt8Block entries (256·127·32767 < 2³¹),
// each block's sum then scaled and added in float. So an int8 read differs from the float read of
// the same codes × scales only by rounding the query and the weights to 16 bits (error budget:
// docs/kernels.md).
struct Int8Rows {
  const int8_t* codes;  // [rows, cols] row-major: row r is codes[r·cols .. r·cols + cols) × scales[r]
  const float* scales;  // [rows]: finite, > 0
  size_t rows, cols;
};
constexpr size_t kInt8Block = 256;

// Scratch floats an int8 read of n rows of dimension d needs (also for read_causal_i8 with
// n = first + rows, and rows_times_vector(s)_i8 with n = 0): the scores, the weights as int16 and
// their block scales, the query as int16 (its length rounded up to 16).
constexpr size_t read_i8_scratch_floats(size_t n, size_t d) {
  return padded_rows(n) + (n + 2) / 2 + n / kInt8Block + 1 + (d + 15) / 16 * 8;
}

// Read one query against int8 keys(n×d) and values(n×dv), both row-major → out(dv);
// weights(n) when non-null. scratch: read_i8_scratch_floats(n, d).
using ReadOneI8Fn = void (*)(const float* q, Int8Rows keys, Int8Rows values, float temp, float* out,
                             float* weights, float* scratch);
// The same for queries(b×d) → out(b×dv).
using ReadBatchI8Fn = void (*)(const float* queries, size_t b, Int8Rows keys, Int8Rows values,
                               float temp, float* out, float* scratch);
// Causal read of an int8 context (keys = values = context, ctx×d with ctx ≥ first + rows): the
// positions and bias of ReadCausalFn. scratch: read_i8_scratch_floats(first + rows, d).
using ReadCausalI8Fn = void (*)(const float* queries, size_t first, size_t rows, Int8Rows context,
                                const float* bias, float temp, float* out, float* weights,
                                float* scratch);
// out(padded_rows(m.rows)) = scale · M·x for int8 M(rows×cols), x(cols): the readout's logits.
// scratch: read_i8_scratch_floats(0, cols).
using RowsTimesVectorI8Fn = void (*)(const float* x, Int8Rows m, float scale, float* out,
                                     float* scratch);
// The same for x(b×cols) → out(b × padded_rows(m.rows)).
using RowsTimesVectorsI8Fn = void (*)(const float* x, size_t b, Int8Rows m, float scale, float* out,
                                      float* scratch);

// One variant of every kernel. The variants are listed once, in variants.inc.
struct KernelSet {
  const char* name;
  ReadOneFn read_one;
  ReadBatchFn read_batch;
  ReadCausalFn read_causal;
  PackedTimesVectorFn packed_times_vector;
  PackedTimesVectorsFn packed_times_vectors;
  GemmFn gemm;
  SoftmaxFn softmax;
  RowDistancesFn row_distances;
  ReadOneI8Fn read_one_i8;
  ReadBatchI8Fn read_batch_i8;
  ReadCausalI8Fn read_causal_i8;
  RowsTimesVectorI8Fn rows_times_vector_i8;
  RowsTimesVectorsI8Fn rows_times_vectors_i8;
  // Whether this CPU can run the variant (e.g. avx2 asks for AVX2 and FMA); null: everywhere.
  bool (*supported)() = nullptr;
};

#define MEMREAD_KERNEL_VARIANT(variant) extern const KernelSet kernels_##variant;
#include "variants.inc"
#undef MEMREAD_KERNEL_VARIANT

// Every variant, in the order of variants.inc.
size_t kernel_set_count();
const KernelSet& kernel_set(size_t index);
// The variant named `name`, or nullptr.
const KernelSet* find_kernel_set(const char* name);
// The variant shipped: the fastest one this build has that runs everywhere (inference: wasmsimd).
const KernelSet& default_kernel_set();
// Whether this CPU can run the variant (its `supported`; avx2 needs AVX2 and FMA).
bool kernel_set_supported(const KernelSet& kernels);
// The trainer's variant: avx2 when built and supported by this CPU, else default_kernel_set().
const KernelSet& fastest_training_kernel_set();
// "wasm_simd128" under Emscripten with -msimd128, "simde" natively.
const char* simd_backend();

}  // namespace memread
