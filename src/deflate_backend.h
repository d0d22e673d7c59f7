/* Compression backend of fastws/_deflate_c, chosen at build time.
 *
 * setup.py defines FASTWS_HAVE_ISAL when ISA-L's igzip (libisal, Debian's
 * libisal-dev) is found: the compressor then runs on isal_deflate, several
 * times faster than zlib's deflate at the same ratio.  Without it, the stubs
 * below let the same Cython code compile; FASTWS_HAVE_ISAL is 0, every ISA-L
 * branch is dead code and zlib does the work.  Decompression is zlib's either way.
 */
#ifndef FASTWS_DEFLATE_BACKEND_H
#define FASTWS_DEFLATE_BACKEND_H

#include <stdint.h>

#ifdef FASTWS_HAVE_ISAL
#undef FASTWS_HAVE_ISAL
#define FASTWS_HAVE_ISAL 1
#include <isa-l/igzip_lib.h>

/* fastws (zlib) level -> ISA-L level: 1 (the default) -> 1, every other level -> 2.
 * ISA-L's level 3 gains ~1% on text but compresses long runs 3.5x worse; level 0
 * never comes here (_deflate_c keeps zlib's stored blocks for it). */
static inline int fastws_isal_level(int level)
{
    return level == 1 ? 1 : 2;
}

/* Bytes of the per-stream level buffer (hash table plus token buffer; level 0
 * needs none): memLevel picks among ISA-L's suggested sizes, as python-isal
 * does, so the memory knob keeps its meaning.  The token buffer bounds the
 * deflate block size: smaller costs a little ratio, not speed. */
#define FASTWS_ISAL_BUF(lvl, mem_level) \
    ((mem_level) <= 2 ? ISAL_DEF_LVL##lvl##_MIN : \
     (mem_level) <= 4 ? ISAL_DEF_LVL##lvl##_SMALL : \
     (mem_level) <= 6 ? ISAL_DEF_LVL##lvl##_MEDIUM : \
     (mem_level) <= 8 ? ISAL_DEF_LVL##lvl##_LARGE : ISAL_DEF_LVL##lvl##_EXTRA_LARGE)

static inline uint32_t fastws_isal_level_buf_size(int isal_level, int mem_level)
{
    switch (isal_level) {
    case 1: return FASTWS_ISAL_BUF(1, mem_level);
    case 2: return FASTWS_ISAL_BUF(2, mem_level);
    case 3: return FASTWS_ISAL_BUF(3, mem_level);
    default: return 0;
    }
}

#else /* zlib only: ISA-L's names, never called */
#define FASTWS_HAVE_ISAL 0

#define NO_FLUSH 0
#define SYNC_FLUSH 1
#define IGZIP_DEFLATE 0
#define COMP_OK 0
#define ISAL_DEF_MAX_HIST_BITS 15
static inline int fastws_isal_level(int level) { return level; }
static inline uint32_t fastws_isal_level_buf_size(int isal_level, int mem_level) { (void)isal_level; (void)mem_level; return 0; }
struct isal_zstream {
    uint8_t *next_in;
    uint32_t avail_in;
    uint32_t total_in;
    uint8_t *next_out;
    uint32_t avail_out;
    uint32_t total_out;
    uint32_t level;
    uint32_t level_buf_size;
    uint8_t *level_buf;
    uint16_t end_of_stream;
    uint16_t flush;
    uint16_t gzip_flag;
    uint16_t hist_bits;
};

static inline void isal_deflate_init(struct isal_zstream *stream) { (void)stream; }
static inline void isal_deflate_reset(struct isal_zstream *stream) { (void)stream; }
static inline int isal_deflate(struct isal_zstream *stream) { (void)stream; return -1; }

#endif /* FASTWS_HAVE_ISAL */

#endif /* FASTWS_DEFLATE_BACKEND_H */
