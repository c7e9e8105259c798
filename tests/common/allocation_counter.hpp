// For the zero-allocation tests: counts every global operator new and every OpenSSL allocation
// in the process into g_allocations. Include it from exactly one file of a test executable of its
// own: it defines the replacement operator new/delete (which may not be inline) and hooks
// OpenSSL's allocator before main, so before OpenSSL allocates anything.
#pragma once

#include <openssl/crypto.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace postern::test {

inline std::atomic<std::uint64_t> g_allocations{0};

inline void* counting_malloc(std::size_t n, const char*, int) {
  ++g_allocations;
  return std::malloc(n);
}
inline void* counting_realloc(void* p, std::size_t n, const char*, int) {
  ++g_allocations;
  return std::realloc(p, n);
}
inline void counting_free(void* p, const char*, int) { std::free(p); }

// True when OpenSSL took the hooks (it refuses once it has allocated).
inline const bool g_hooked = CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

}  // namespace postern::test

void* operator new(std::size_t n) {
  ++postern::test::g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
