/* mask.h - RFC 6455 section 5.3 payload masking: dst[i] = src[i] ^ key[(phase + i) & 3].
 *
 * Header-only, meant to be included by exactly one C file (the Cython module).
 *
 *   fastws_mask_init()  picks the widest kernel this CPU runs (AVX-512 > AVX2 > SSE2
 *                       on x86_64, 8-byte words elsewhere); call it once at import.
 *                       Without it the SSE2 / word kernel is used, which is always safe.
 *   fastws_mask()       masks any length at any alignment, in place (dst == src) or
 *                       into a non-overlapping buffer.
 *
 * Short payloads (the common case for control and chat frames) are done inline with
 * 8-byte words and never reach the dispatched kernel.  Long ones go through a function
 * pointer to a SIMD kernel that aligns its stores and runs 4 vectors per iteration.
 */
#ifndef FASTWS_MASK_H
#define FASTWS_MASK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTWS_MASK_X86 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FASTWS_MASK_UNUSED __attribute__((unused))
#else
#define FASTWS_MASK_UNUSED
#endif

/* Below this length fastws_mask() stays inline; at or above it calls the kernel. */
#define FASTWS_MASK_INLINE_MAX 32

/* A kernel masks len bytes with the 4-byte pattern k (k's bytes in memory order are the
 * key bytes for positions 0,1,2,3 of this call: the phase is already folded in). */
typedef void (*fastws_mask_kernel_fn)(unsigned char *dst, const unsigned char *src,
                                      size_t len, uint32_t k);

/* Advance the 4-byte pattern by n bytes, i.e. the pattern as seen from src + n. */
static inline uint32_t fastws__mask_rotate(uint32_t k, size_t n)
{
    unsigned s = (unsigned)(n & 3) * 8;
    if (s == 0)
        return k;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (k << s) | (k >> (32 - s));
#else
    return (k >> s) | (k << (32 - s)); /* little endian: memory byte j is bits 8j..8j+7 */
#endif
}

/* Word-at-a-time loop: used for short payloads and for the heads/tails of the SIMD
 * kernels.  memcpy keeps unaligned accesses legal; compilers turn it into plain moves. */
static inline void fastws__mask_words(unsigned char *dst, const unsigned char *src,
                                      size_t len, uint32_t k)
{
    uint64_t k8 = ((uint64_t)k << 32) | k; /* pattern repeats every 4 bytes: endian-neutral */
    unsigned char kb[4];
    uint64_t w;
    uint32_t h;
    size_t i;

    for (; len >= 8; len -= 8, src += 8, dst += 8) {
        memcpy(&w, src, 8);
        w ^= k8;
        memcpy(dst, &w, 8);
    }
    if (len >= 4) {
        memcpy(&h, src, 4);
        h ^= k;
        memcpy(dst, &h, 4);
        len -= 4, src += 4, dst += 4;
    }
    memcpy(kb, &k, 4);
    for (i = 0; i < len; i++)
        dst[i] = src[i] ^ kb[i];
}

/* Portable kernel (any architecture). */
static FASTWS_MASK_UNUSED void fastws__mask_scalar(unsigned char *dst, const unsigned char *src,
                                                   size_t len, uint32_t k)
{
    fastws__mask_words(dst, src, len, k);
}

#ifdef FASTWS_MASK_X86

/* Bring dst up to a multiple of `align` bytes with the word loop, so the vector loop
 * stores whole aligned vectors (a store that splits a cache line costs twice). */
#define FASTWS__MASK_ALIGN_HEAD(align)                                        \
    do {                                                                      \
        size_t head_ = (size_t)(-(uintptr_t)dst) & ((align) - 1);             \
        if (head_) {                                                          \
            fastws__mask_words(dst, src, head_, k);                           \
            dst += head_, src += head_, len -= head_;                         \
            k = fastws__mask_rotate(k, head_);                                \
        }                                                                     \
    } while (0)

/* SSE2 is part of the x86_64 baseline: no target attribute needed. */
static void fastws__mask_sse2(unsigned char *dst, const unsigned char *src, size_t len, uint32_t k)
{
    if (len >= 64) {
        __m128i vk;
        FASTWS__MASK_ALIGN_HEAD(16);
        vk = _mm_set1_epi32((int)k);
        for (; len >= 64; len -= 64, src += 64, dst += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)src);
            __m128i b = _mm_loadu_si128((const __m128i *)(src + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + 48));
            _mm_store_si128((__m128i *)dst, _mm_xor_si128(a, vk));
            _mm_store_si128((__m128i *)(dst + 16), _mm_xor_si128(b, vk));
            _mm_store_si128((__m128i *)(dst + 32), _mm_xor_si128(c, vk));
            _mm_store_si128((__m128i *)(dst + 48), _mm_xor_si128(d, vk));
        }
        for (; len >= 16; len -= 16, src += 16, dst += 16)
            _mm_store_si128((__m128i *)dst,
                            _mm_xor_si128(_mm_loadu_si128((const __m128i *)src), vk));
    }
    fastws__mask_words(dst, src, len, k);
}

__attribute__((target("avx2"))) static FASTWS_MASK_UNUSED void
fastws__mask_avx2(unsigned char *dst, const unsigned char *src, size_t len, uint32_t k)
{
    if (len >= 128) {
        __m256i vk;
        FASTWS__MASK_ALIGN_HEAD(32);
        vk = _mm256_set1_epi32((int)k);
        for (; len >= 128; len -= 128, src += 128, dst += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)src);
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(src + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(src + 96));
            _mm256_store_si256((__m256i *)dst, _mm256_xor_si256(a, vk));
            _mm256_store_si256((__m256i *)(dst + 32), _mm256_xor_si256(b, vk));
            _mm256_store_si256((__m256i *)(dst + 64), _mm256_xor_si256(c, vk));
            _mm256_store_si256((__m256i *)(dst + 96), _mm256_xor_si256(d, vk));
        }
        for (; len >= 32; len -= 32, src += 32, dst += 32)
            _mm256_store_si256((__m256i *)dst,
                               _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)src), vk));
    }
    if (len >= 16) { /* at most one 16-byte step, then < 16 bytes of words */
        __m128i vk = _mm_set1_epi32((int)k);
        _mm_storeu_si128((__m128i *)dst,
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)src), vk));
        dst += 16, src += 16, len -= 16;
    }
    fastws__mask_words(dst, src, len, k);
}

/* AVX-512: byte-masked loads/stores (AVX512BW) do the unaligned head and the tail in
 * one instruction each, without touching bytes outside [dst, dst + len). */
__attribute__((target("avx512f,avx512bw"))) static FASTWS_MASK_UNUSED void
fastws__mask_avx512(unsigned char *dst, const unsigned char *src, size_t len, uint32_t k)
{
    __m512i vk = _mm512_set1_epi32((int)k);
    size_t head = (size_t)(-(uintptr_t)dst) & 63;

    if (len >= 256 && head) {
        __mmask64 m = _cvtu64_mask64((~0ULL) >> (64 - head));
        __m512i a = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(a, vk));
        dst += head, src += head, len -= head;
        vk = _mm512_set1_epi32((int)fastws__mask_rotate(k, head));
    }
    for (; len >= 256; len -= 256, src += 256, dst += 256) {
        __m512i a = _mm512_loadu_si512((const void *)src);
        __m512i b = _mm512_loadu_si512((const void *)(src + 64));
        __m512i c = _mm512_loadu_si512((const void *)(src + 128));
        __m512i d = _mm512_loadu_si512((const void *)(src + 192));
        _mm512_storeu_si512((void *)dst, _mm512_xor_si512(a, vk));
        _mm512_storeu_si512((void *)(dst + 64), _mm512_xor_si512(b, vk));
        _mm512_storeu_si512((void *)(dst + 128), _mm512_xor_si512(c, vk));
        _mm512_storeu_si512((void *)(dst + 192), _mm512_xor_si512(d, vk));
    }
    for (; len >= 64; len -= 64, src += 64, dst += 64)
        _mm512_storeu_si512((void *)dst,
                            _mm512_xor_si512(_mm512_loadu_si512((const void *)src), vk));
    if (len) {
        __mmask64 m = _cvtu64_mask64((~0ULL) >> (64 - len));
        __m512i a = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(a, vk));
    }
}

#undef FASTWS__MASK_ALIGN_HEAD
#define FASTWS_MASK_DEFAULT fastws__mask_sse2
#define FASTWS_MASK_DEFAULT_NAME "sse2"
#else
#define FASTWS_MASK_DEFAULT fastws__mask_scalar
#define FASTWS_MASK_DEFAULT_NAME "scalar"
#endif /* FASTWS_MASK_X86 */

/* The kernel for long payloads; starts as the always-safe baseline. */
static fastws_mask_kernel_fn fastws__mask_kernel = FASTWS_MASK_DEFAULT;
static const char *fastws__mask_kernel_name = FASTWS_MASK_DEFAULT_NAME;

/* Pick the best kernel for this CPU.  Idempotent; cheap enough to call more than once. */
static FASTWS_MASK_UNUSED void fastws_mask_init(void)
{
#ifdef FASTWS_MASK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
        fastws__mask_kernel = fastws__mask_avx512;
        fastws__mask_kernel_name = "avx512";
    } else if (__builtin_cpu_supports("avx2")) {
        fastws__mask_kernel = fastws__mask_avx2;
        fastws__mask_kernel_name = "avx2";
    }
#endif
}

/* Name of the kernel in use ("avx512", "avx2", "sse2" or "scalar"), for diagnostics. */
static inline const char *fastws_mask_kernel(void)
{
    return fastws__mask_kernel_name;
}

/* dst[i] = src[i] ^ key[(phase + i) & 3] for i in [0, len).  dst == src is allowed;
 * otherwise the buffers must not overlap.  phase is 0..3 (higher values wrap). */
static inline void fastws_mask(unsigned char *dst, const unsigned char *src, size_t len,
                               const unsigned char key[4], unsigned phase)
{
    uint32_t k;
    memcpy(&k, key, 4);
    k = fastws__mask_rotate(k, phase);
    if (len < FASTWS_MASK_INLINE_MAX)
        fastws__mask_words(dst, src, len, k);
    else
        fastws__mask_kernel(dst, src, len, k);
}

#endif /* FASTWS_MASK_H */
