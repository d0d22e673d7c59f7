/* utf8.h - incremental, fail-fast UTF-8 validation (RFC 3629, as RFC 6455 section 8.1 needs).
 *
 * Header-only, meant to be included by exactly one C file (the Cython module).
 *
 * Well-formed sequences (RFC 3629 section 4; the only constraint beyond "continuation
 * bytes are 80..BF" is on the second byte, which is what makes fail-fast easy):
 *
 *     00..7F
 *     C2..DF  80..BF                    (C0, C1 would be overlong)
 *     E0      A0..BF  80..BF            (E0 80..9F overlong)
 *     E1..EC  80..BF  80..BF
 *     ED      80..9F  80..BF            (ED A0..BF = surrogates D800..DFFF)
 *     EE..EF  80..BF  80..BF
 *     F0      90..BF  80..BF  80..BF    (F0 80..8F overlong)
 *     F1..F3  80..BF  80..BF  80..BF
 *     F4      80..8F  80..BF  80..BF    (F4 90.. is above U+10FFFF; F5..FF never valid)
 *
 * How it runs:
 *   - a run of ASCII is skipped 8 bytes at a time, long runs 32..128 bytes per step with
 *     SSE2/AVX2 (OR of the bytes, movemask finds the first non-ASCII byte);
 *   - while >= 4 bytes remain, a whole multi-byte sequence is checked per step with range
 *     tests (no per-byte state);
 *   - only the last < 4 bytes of a chunk, and a sequence split across chunks, go through a
 *     byte-wise state machine whose state is (bytes still needed, allowed range of the next
 *     byte).  Because only the second byte is special, that range is exact and an invalid
 *     byte is reported at the very byte that makes the input unrecoverable.
 */
#ifndef FASTWS_UTF8_H
#define FASTWS_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTWS_UTF8_X86 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FASTWS_UTF8_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define FASTWS_UTF8_UNLIKELY(x) (x)
#endif

/* state == 0: between sequences (the zero-initialised start state).
 * Inside a sequence: bits 0..7 lowest allowed next byte, bits 8..15 highest allowed next
 * byte, bits 16..17 continuation bytes still needed (1..3).
 * FASTWS_UTF8_FAILED: sticky error. */
typedef struct {
    uint32_t state;
} fastws_utf8_state;

#define FASTWS_UTF8_FAILED 0xFFFFFFFFu
#define FASTWS_UTF8_PACK(need, lo, hi) \
    ((uint32_t)(need) << 16 | (uint32_t)(hi) << 8 | (uint32_t)(lo))

static inline void fastws_utf8_reset(fastws_utf8_state *st)
{
    st->state = 0;
}

/* 1 when everything fed so far is valid and no sequence is left incomplete. */
static inline int fastws_utf8_complete(const fastws_utf8_state *st)
{
    return st->state == 0;
}

/* ---- ASCII runs ------------------------------------------------------------------- */

/* Number of leading ASCII bytes of p[0..n); the generic version goes 8 bytes a step. */
static inline size_t fastws__utf8_ascii_words(const unsigned char *p, size_t n)
{
    size_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

#ifdef FASTWS_UTF8_X86
/* SSE2 (x86_64 baseline): 64 bytes per step, then 16, then words. */
static size_t fastws__utf8_ascii_sse2(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(p + i + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))))
            break; /* the 16-byte loop below finds the exact byte */
    }
    for (; i + 16 <= n; i += 16) {
        int m = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
    return i + fastws__utf8_ascii_words(p + i, n - i);
}

/* AVX2: 128 bytes per step, then 32, then words. */
__attribute__((target("avx2"))) static size_t
fastws__utf8_ascii_avx2(const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(p + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(p + i + 96));
        if (_mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d))))
            break;
    }
    for (; i + 32 <= n; i += 32) {
        int m = _mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
    return i + fastws__utf8_ascii_words(p + i, n - i);
}

static size_t fastws__utf8_ascii_resolve(const unsigned char *p, size_t n);
/* Chosen on first use (no init call needed): starts at the resolver, which replaces it. */
static size_t (*fastws__utf8_ascii)(const unsigned char *, size_t) = fastws__utf8_ascii_resolve;

static size_t fastws__utf8_ascii_resolve(const unsigned char *p, size_t n)
{
    __builtin_cpu_init();
    fastws__utf8_ascii =
        __builtin_cpu_supports("avx2") ? fastws__utf8_ascii_avx2 : fastws__utf8_ascii_sse2;
    return fastws__utf8_ascii(p, n);
}
#else
#define fastws__utf8_ascii fastws__utf8_ascii_words
#endif /* FASTWS_UTF8_X86 */

/* ---- whole sequences ----------------------------------------------------------------- */

/* Check sequences while at least 4 bytes remain.  Returns where it stopped (a sequence
 * boundary with < 4 bytes left), or NULL at the first invalid sequence. */
static inline const unsigned char *fastws__utf8_fast(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 4) {
        unsigned b0 = p[0];
        if (b0 < 0x80) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__GNUC__) || defined(__clang__))
            /* Short ASCII runs (spaces, punctuation in non-Latin text) stay inline: look at
             * 8 bytes; the first non-ASCII byte is the lowest set high bit. */
            if (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                w &= 0x8080808080808080ULL;
                if (w) {
                    p += __builtin_ctzll(w) >> 3;
                    continue;
                }
                p += 8;
                if (end - p >= 32) /* a long run: hand over to the SIMD scanner */
                    p += fastws__utf8_ascii(p, (size_t)(end - p));
                continue;
            }
#endif
            p++;
            continue;
        }
        if (b0 < 0xE0) {
            /* C2..DF 80..BF; 80..C1 as a lead is a stray continuation or an overlong */
            if (FASTWS_UTF8_UNLIKELY(b0 < 0xC2 || (p[1] & 0xC0) != 0x80))
                return NULL;
            p += 2;
        } else if (b0 < 0xF0) {
            /* E0 needs A0..BF (no overlong), ED needs 80..9F (no surrogate) */
            unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;
            unsigned hi = b0 == 0xED ? 0x9F : 0xBF;
            if (FASTWS_UTF8_UNLIKELY(p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80))
                return NULL;
            p += 3;
        } else {
            /* F0 needs 90..BF (no overlong), F4 needs 80..8F (<= U+10FFFF), F5.. invalid */
            unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;
            unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;
            if (FASTWS_UTF8_UNLIKELY(b0 > 0xF4 || p[1] < lo || p[1] > hi ||
                                     (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80))
                return NULL;
            p += 4;
        }
    }
    return p;
}

/* ---- public API ------------------------------------------------------------------------ */

/* Validate the next chunk.  0: everything so far is a valid UTF-8 prefix; -1: it can no
 * longer become valid (sticky until fastws_utf8_reset). */
static inline int fastws_utf8_feed(fastws_utf8_state *st, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    uint32_t s = st->state;
    unsigned need = 0, lo = 0x80, hi = 0xBF;

    if (s == FASTWS_UTF8_FAILED)
        return -1;
    if (s) { /* resume a sequence split by the previous chunk */
        need = s >> 16;
        lo = s & 0xFF;
        hi = (s >> 8) & 0xFF;
        goto tail;
    }
    for (;;) {
        p = fastws__utf8_fast(p, end);
        if (!p)
            goto fail;
    tail:
        /* Byte-wise: finish an open sequence, then whatever is left of the chunk (< 4
         * bytes unless a split sequence just finished and more follows). */
        for (;;) {
            unsigned b;
            if (need == 0) {
                if (end - p >= 4)
                    break; /* back to the fast path */
                if (p == end) {
                    st->state = 0;
                    return 0;
                }
                b = *p++;
                if (b < 0x80)
                    continue;
                if (b < 0xC2 || b > 0xF4)
                    goto fail;
                if (b < 0xE0) {
                    need = 1, lo = 0x80, hi = 0xBF;
                } else if (b < 0xF0) {
                    need = 2;
                    lo = b == 0xE0 ? 0xA0 : 0x80;
                    hi = b == 0xED ? 0x9F : 0xBF;
                } else {
                    need = 3;
                    lo = b == 0xF0 ? 0x90 : 0x80;
                    hi = b == 0xF4 ? 0x8F : 0xBF;
                }
            } else {
                if (p == end) { /* chunk ends inside a sequence: remember where we are */
                    st->state = FASTWS_UTF8_PACK(need, lo, hi);
                    return 0;
                }
                b = *p++;
                if (b < lo || b > hi)
                    goto fail;
                need--, lo = 0x80, hi = 0xBF;
            }
        }
    }
fail:
    st->state = FASTWS_UTF8_FAILED;
    return -1;
}

/* Whole buffer: 1 if valid and complete UTF-8, 0 otherwise. */
static inline int fastws_utf8_validate(const unsigned char *p, size_t n)
{
    fastws_utf8_state st = {0};
    return fastws_utf8_feed(&st, p, n) == 0 && st.state == 0;
}

#endif /* FASTWS_UTF8_H */
