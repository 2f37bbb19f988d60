// The variant registry: what variants.inc lists, by index and by name.
#include <cstring>

#include "mem_read.h"
#include "simd128.h"

namespace memread {

namespace {
const KernelSet* const kAllKernelSets[] = {
#define MEMREAD_KERNEL_VARIANT(variant) &kernels_##variant,
#include "variants.inc"
#undef MEMREAD_KERNEL_VARIANT
};
constexpr size_t kKernelSetCount = sizeof(kAllKernelSets) / sizeof(kAllKernelSets[0]);
}  // namespace

size_t kernel_set_count() { return kKernelSetCount; }

const KernelSet& kernel_set(size_t index) { return *kAllKernelSets[index]; }

const KernelSet* find_kernel_set(const char* name) {
  for (const KernelSet* set : kAllKernelSets) {
    if (std::strcmp(set->name, name) == 0) return set;
  }
  return nullptr;
}

const KernelSet& default_kernel_set() { return kernels_wasmsimd; }

bool kernel_set_supported(const KernelSet& kernels) {
  // scalar and wasmsimd have no check: plain C++, and SIMDe's baseline (SSE2) or wasm SIMD128
  return kernels.supported == nullptr || kernels.supported();
}

const KernelSet& fastest_training_kernel_set() {
#if defined(MEMREAD_HAS_AVX2_VARIANT)
  if (kernel_set_supported(kernels_avx2)) return kernels_avx2;
#endif
  return default_kernel_set();
}

const char* simd_backend() { return MEMREAD_SIMD_BACKEND; }

}  // namespace memread
