// One SIMD vocabulary for every build: the WebAssembly SIMD128 intrinsics.
// Under Emscripten (-msimd128) they are the real wasm_simd128.h; natively, SIMDe translates the
// same calls to SSE/AVX/NEON, so native tests, the native trainer and the browser run one source.
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define MEMREAD_SIMD_BACKEND "wasm_simd128"
#else
#define SIMDE_ENABLE_NATIVE_ALIASES 1
#include <simde/wasm/simd128.h>
#define MEMREAD_SIMD_BACKEND "simde"
#endif
