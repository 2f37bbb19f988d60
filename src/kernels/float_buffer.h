// A heap array of floats whose allocation failure is a return value, not an abort: sizes here
// come from users and files, and wasm32 has only 4 GiB. Move-only; 16-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace memread {

class FloatBuffer {
 public:
  FloatBuffer() = default;
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  FloatBuffer(FloatBuffer&& other) noexcept { *this = std::move(other); }
  FloatBuffer& operator=(FloatBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~FloatBuffer() { std::free(data_); }

  // Replaces the contents with `count` uninitialised floats. False (buffer emptied) when the
  // byte count overflows size_t or memory runs out.
  bool allocate(size_t count) {
    release();
    if (count == 0) return true;
    if (count > (SIZE_MAX - 15) / sizeof(float)) return false;
    const size_t bytes = (count * sizeof(float) + 15) / 16 * 16;
    data_ = static_cast<float*>(std::aligned_alloc(16, bytes));
    if (data_ == nullptr) return false;
    size_ = count;
    return true;
  }
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
  }

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace memread
