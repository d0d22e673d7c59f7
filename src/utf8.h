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
 * How it runs (each stage hands the next a position at a sequence boundary):
 *   1. chunks of >= 32 bytes, on CPUs with AVX2: a branch-free classifier checks 32 bytes
 *      per step (pairs of adjacent bytes looked up by nibble, see "long chunks" below),
 *      skipping pure-ASCII blocks 128 bytes per step;
 *   2. otherwise (short chunks, no AVX2), while >= 4 bytes remain: a direct decoder
 *      checks one whole 2/3/4-byte sequence per step with range tests; ASCII runs go 8
 *      bytes a step inline, long ones to an SSE2/AVX2 scanner (OR + movemask);
 *   3. the last < 4 bytes of a chunk, and a sequence split across chunks, go through a
 *      byte-wise state machine whose state is (bytes still needed, allowed range of the
 *      next byte).  Because only the second byte is special, that range is exact, so a
 *      chunk returns -1 exactly when its bytes make the input unrecoverable (fail-fast).
 *   Within one chunk any error gives -1; where in the chunk it was found does not matter.
 * CPU dispatch happens on first use (no init call).
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

/* Dispatched on first use (no init call needed): the pointers start at resolvers that
 * pick the kernels for this CPU, replace themselves, and forward the call. */
static size_t fastws__utf8_ascii_resolve(const unsigned char *p, size_t n);
static size_t (*fastws__utf8_ascii)(const unsigned char *, size_t) = fastws__utf8_ascii_resolve;
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

/* ---- long chunks: AVX2 classification of byte pairs ------------------------------------
 *
 * 32 bytes per step, no per-sequence branches.  Every error shows up in a pair
 * (previous byte, this byte), and each kind of bad pair is a product of three nibble
 * sets: {prev high nibble} x {prev low nibble} x {this byte's high nibble}.  So three
 * 16-entry shuffle lookups, ANDed, give a byte whose set bits name the errors at that
 * position (bit assignments below).  The one rule pairs cannot express is how many
 * continuation bytes a lead takes; that is done with the bytes 2 and 3 back: a
 * continuation after a continuation (TWO_CONTS) is legal exactly when the byte 2 back is
 * E0..FF or the byte 3 back is F0..FF.  Errors are ORed up and tested once per step.
 */
#ifdef FASTWS_UTF8_X86
#define FASTWS_U8_TOO_SHORT 0x01 /* lead (C0..FF), then no continuation */
#define FASTWS_U8_TOO_LONG 0x02  /* continuation right after ASCII */
#define FASTWS_U8_OVERLONG3 0x04 /* E0 80..9F */
#define FASTWS_U8_SURROGATE 0x08 /* ED A0..BF */
#define FASTWS_U8_OVERLONG2 0x10 /* C0/C1, continuation */
#define FASTWS_U8_TOO_LARGE 0x20 /* F4..FF 90..BF */
#define FASTWS_U8_F_80 0x40      /* F0 80..8F (overlong) and F5..FF 80..8F (too large) */
#define FASTWS_U8_TWO_CONTS 0x80 /* continuation after continuation */
#define FASTWS_U8_ANY (FASTWS_U8_TOO_SHORT | FASTWS_U8_TOO_LONG | FASTWS_U8_TWO_CONTS)

/* Each table maps a nibble to the error kinds it takes part in. */
static const unsigned char fastws__u8_prev_hi[16] = { /* by the previous byte's high nibble */
    FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG,
    FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG, FASTWS_U8_TOO_LONG,
    FASTWS_U8_TWO_CONTS, FASTWS_U8_TWO_CONTS, FASTWS_U8_TWO_CONTS, FASTWS_U8_TWO_CONTS,
    FASTWS_U8_TOO_SHORT | FASTWS_U8_OVERLONG2,                       /* Cx */
    FASTWS_U8_TOO_SHORT,                                             /* Dx */
    FASTWS_U8_TOO_SHORT | FASTWS_U8_OVERLONG3 | FASTWS_U8_SURROGATE, /* Ex */
    FASTWS_U8_TOO_SHORT | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,      /* Fx */
};
static const unsigned char fastws__u8_prev_lo[16] = { /* by the previous byte's low nibble */
    FASTWS_U8_ANY | FASTWS_U8_OVERLONG2 | FASTWS_U8_OVERLONG3 | FASTWS_U8_F_80, /* x0 */
    FASTWS_U8_ANY | FASTWS_U8_OVERLONG2,                                        /* x1 */
    FASTWS_U8_ANY,
    FASTWS_U8_ANY,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE,                                        /* x4 */
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,                       /* x5 */
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80 | FASTWS_U8_SURROGATE,  /* xD */
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
    FASTWS_U8_ANY | FASTWS_U8_TOO_LARGE | FASTWS_U8_F_80,
};
#define FASTWS_U8_CONT (FASTWS_U8_TOO_LONG | FASTWS_U8_TWO_CONTS | FASTWS_U8_OVERLONG2)
static const unsigned char fastws__u8_cur_hi[16] = { /* by this byte's high nibble */
    FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT,
    FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT,
    FASTWS_U8_CONT | FASTWS_U8_OVERLONG3 | FASTWS_U8_F_80,      /* 8x */
    FASTWS_U8_CONT | FASTWS_U8_OVERLONG3 | FASTWS_U8_TOO_LARGE, /* 9x */
    FASTWS_U8_CONT | FASTWS_U8_SURROGATE | FASTWS_U8_TOO_LARGE, /* Ax */
    FASTWS_U8_CONT | FASTWS_U8_SURROGATE | FASTWS_U8_TOO_LARGE, /* Bx */
    FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT, FASTWS_U8_TOO_SHORT,
};
#undef FASTWS_U8_CONT
/* A block ends in a lead that still needs bytes when its last byte is >= C0, the one
 * before >= E0, or the one before that >= F0: saturating subtract leaves non-zero. */
static const unsigned char fastws__u8_incomplete[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF,
};

/* ORs into err the errors of the 32 bytes `in`; `cross` holds the preceding 16 bytes in
 * its low lane and the first 16 of `in` in its high lane, so alignr can reach 1, 2, 3
 * bytes back in both lanes. */
#define FASTWS__UTF8_CHECK_BLOCK(in, cross, err)                                              \
    do {                                                                                      \
        __m256i prev1_ = _mm256_alignr_epi8(in, cross, 15);                                   \
        __m256i prev2_ = _mm256_alignr_epi8(in, cross, 14);                                   \
        __m256i prev3_ = _mm256_alignr_epi8(in, cross, 13);                                   \
        __m256i e_ = _mm256_and_si256(                                                        \
            _mm256_and_si256(                                                                 \
                _mm256_shuffle_epi8(prev_hi, _mm256_and_si256(_mm256_srli_epi16(prev1_, 4), nib)), \
                _mm256_shuffle_epi8(prev_lo, _mm256_and_si256(prev1_, nib))),                 \
            _mm256_shuffle_epi8(cur_hi, _mm256_and_si256(_mm256_srli_epi16(in, 4), nib)));    \
        /* 3rd/4th byte of a sequence: bit 7 set where a continuation is required;            \
         * XOR cancels TWO_CONTS exactly there and flags it where it is missing */            \
        __m256i must_ = _mm256_or_si256(_mm256_subs_epu8(prev2_, _mm256_set1_epi8(0xE0 - 0x80)), \
                                        _mm256_subs_epu8(prev3_, _mm256_set1_epi8(0xF0 - 0x80))); \
        must_ = _mm256_and_si256(must_, _mm256_set1_epi8((char)0x80));                        \
        err = _mm256_or_si256(err, _mm256_xor_si256(e_, must_));                              \
    } while (0)

/* Validate whole 32-byte blocks from p (a sequence boundary).  Returns NULL on an error,
 * else where to resume byte-wise: the start of a sequence the last block may have cut. */
__attribute__((target("avx2"))) static const unsigned char *
fastws__utf8_bulk_avx2(const unsigned char *p, const unsigned char *end)
{
    /* the 16-entry tables, the same in both 128-bit lanes for vpshufb */
    const __m256i prev_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fastws__u8_prev_hi));
    const __m256i prev_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fastws__u8_prev_lo));
    const __m256i cur_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)fastws__u8_cur_hi));
    const __m256i incomplete = _mm256_loadu_si256((const __m256i *)fastws__u8_incomplete);
    const __m256i nib = _mm256_set1_epi8(0x0F);
    const unsigned char *start = p, *stop = p + ((size_t)(end - p) & ~(size_t)31);
    __m256i prev = _mm256_setzero_si256(); /* as if ASCII came before: we start at a boundary */
    __m256i pending = _mm256_setzero_si256(), err = _mm256_setzero_si256();

    while (p < stop) {
        __m256i in = _mm256_loadu_si256((const __m256i *)p), cross;
        if (!_mm256_movemask_epi8(in)) {
            /* ASCII can't finish an open sequence; then skip the rest of the run 128 bytes
             * a step.  ASCII behind us looks the same as zeros to the lookups. */
            if (!_mm256_testz_si256(pending, pending))
                return NULL;
            pending = prev = _mm256_setzero_si256();
            for (p += 32; stop - p >= 128; p += 128) {
                __m256i a = _mm256_loadu_si256((const __m256i *)p);
                __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
                __m256i c = _mm256_loadu_si256((const __m256i *)(p + 64));
                __m256i d = _mm256_loadu_si256((const __m256i *)(p + 96));
                if (_mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d))))
                    break;
            }
            continue;
        }
        cross = _mm256_permute2x128_si256(prev, in, 0x21);
        FASTWS__UTF8_CHECK_BLOCK(in, cross, err);
        pending = _mm256_subs_epu8(in, incomplete);
        prev = in;
        p += 32;
        if (FASTWS_UTF8_UNLIKELY(!_mm256_testz_si256(err, err)))
            return NULL;
    }
    /* Fewer than 32 bytes left: check one last block ending at `end`, overlapping what is
     * done (re-checking a pair gives the same answer).  Its "previous" bytes are the 3
     * real ones before it, moved to the top of a vector. */
    if (p < end && end - start >= 35) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(end - 32));
        __m128i back = _mm_loadu_si128((const __m128i *)(end - 35)); /* bytes 0..2 matter */
        __m256i before = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_slli_si128(back, 13), 1);
        __m256i cross = _mm256_permute2x128_si256(before, in, 0x21);
        FASTWS__UTF8_CHECK_BLOCK(in, cross, err);
        if (!_mm256_testz_si256(err, err))
            return NULL;
        p = end;
    }
    /* Everything before p is checked except a sequence cut at p: resume at the last lead
     * byte among the last 3 (re-checking it whole is harmless when it was complete). */
    if (p == start)
        return p;
    if (p[-1] >= 0xC0)
        return p - 1;
    if (p[-2] >= 0xC0)
        return p - 2;
    if (p[-3] >= 0xC0)
        return p - 3;
    return p;
}
#undef FASTWS__UTF8_CHECK_BLOCK

/* Chunks at least this long go through the bulk stage first. */
#define FASTWS_UTF8_BULK_MIN 32

static const unsigned char *fastws__utf8_bulk_resolve(const unsigned char *p, const unsigned char *end);
static const unsigned char *(*fastws__utf8_bulk)(const unsigned char *, const unsigned char *) =
    fastws__utf8_bulk_resolve;

static void fastws__utf8_pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        fastws__utf8_ascii = fastws__utf8_ascii_avx2;
        fastws__utf8_bulk = fastws__utf8_bulk_avx2;
    } else { /* SSE2 only: the sequence decoder with the SSE2 ASCII scanner */
        fastws__utf8_ascii = fastws__utf8_ascii_sse2;
        fastws__utf8_bulk = fastws__utf8_fast;
    }
}

static size_t fastws__utf8_ascii_resolve(const unsigned char *p, size_t n)
{
    fastws__utf8_pick();
    return fastws__utf8_ascii(p, n);
}

static const unsigned char *fastws__utf8_bulk_resolve(const unsigned char *p, const unsigned char *end)
{
    fastws__utf8_pick();
    return fastws__utf8_bulk(p, end);
}
#else
#define FASTWS_UTF8_BULK_MIN 32
#define fastws__utf8_bulk fastws__utf8_fast
#endif /* FASTWS_UTF8_X86 */

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
        if (end - p >= FASTWS_UTF8_BULK_MIN && !(p = fastws__utf8_bulk(p, end)))
            goto fail;
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
