// The binding table of the npm package's wasm module: names only, no logic. Pointers cross as
// uintptr_t offsets into wasm memory; the JS package (src/js) owns validation and the friendly API.
#include <emscripten/bind.h>

#include <cstdint>
#include <string>

#include "kernels/mem_read.h"
#include "kernels/packed_bank.h"

using memread::PackedBank;

namespace {
float* floats_at(uintptr_t offset) { return reinterpret_cast<float*>(offset); }
}  // namespace

EMSCRIPTEN_BINDINGS(memread) {
  emscripten::function("simdBackend", +[] { return std::string(memread::simd_backend()); });
  emscripten::function("kernelSetCount", &memread::kernel_set_count);
  emscripten::function("kernelSetName", +[](size_t i) { return std::string(memread::kernel_set(i).name); });

  emscripten::class_<PackedBank>("PackedBank")
      // The kernel set by name; JS checks the name against kernelSetName() first.
      .constructor(+[](const std::string& kernels) {
        const memread::KernelSet* set = memread::find_kernel_set(kernels.c_str());
        return new PackedBank(set != nullptr ? *set : memread::default_kernel_set());
      })
      // "" on success, else what went wrong.
      .function("reserve", +[](PackedBank& bank, size_t n, size_t d, size_t dv) {
        std::string error;
        return bank.reserve(n, d, dv, error) ? std::string() : error;
      })
      .function("keyRowsOffset", +[](PackedBank& bank) { return reinterpret_cast<uintptr_t>(bank.key_rows()); })
      .function("valueRowsOffset", +[](PackedBank& bank) { return reinterpret_cast<uintptr_t>(bank.value_rows()); })
      // "" on success, else the first non-finite entry of K or V.
      .function("pack", +[](PackedBank& bank) {
        std::string error;
        return bank.pack(error) ? std::string() : error;
      })
      .function("read", +[](PackedBank& bank, uintptr_t queries, size_t rows, float temp, uintptr_t out, uintptr_t weights) {
        return bank.read(floats_at(queries), rows, temp, floats_at(out), floats_at(weights));
      })
      .function("slots", &PackedBank::slots)
      .function("keyDim", &PackedBank::key_dim)
      .function("valueDim", &PackedBank::value_dim);
}
