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

const char* simd_backend() { return MEMREAD_SIMD_BACKEND; }

}  // namespace memread
