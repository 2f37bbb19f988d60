// A heap array whose allocation failure is a return value, not an abort: sizes here come from
// users and files, and wasm32 has only 4 GiB. Move-only; 16-byte aligned; T trivially copyable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace memread {

template <typename T>
class HeapArray {
 public:
  HeapArray() = default;
  HeapArray(const HeapArray&) = delete;
  HeapArray& operator=(const HeapArray&) = delete;
  HeapArray(HeapArray&& other) noexcept { *this = std::move(other); }
  HeapArray& operator=(HeapArray&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~HeapArray() { std::free(data_); }

  // Replaces the contents with `count` uninitialised elements. False (buffer emptied) when the
  // byte count overflows size_t or memory runs out.
  bool allocate(size_t count) {
    release();
    if (count == 0) return true;
    if (count > (SIZE_MAX - 15) / sizeof(T)) return false;
    const size_t bytes = (count * sizeof(T) + 15) / 16 * 16;
    data_ = static_cast<T*>(std::aligned_alloc(16, bytes));
    if (data_ == nullptr) return false;
    size_ = count;
    return true;
  }
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

using FloatBuffer = HeapArray<float>;

}  // namespace memread
