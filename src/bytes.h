/*
 * bytes.h — little-endian writing and reading of the library's binary
 * blobs (sampler and batcher states), one cursor type each way.  The
 * reader never checks bounds: callers check the blob's length first.
 * Not installed.
 */
#ifndef BS_BYTES_H
#define BS_BYTES_H

#include <stdint.h>
#include <string.h>

typedef struct {
    unsigned char *p;
} bs__wr;

typedef struct {
    const unsigned char *p;
} bs__rd;

static inline void bs__put32(bs__wr *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *w->p++ = (unsigned char)(v >> (8 * i));
}
static inline void bs__put64(bs__wr *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *w->p++ = (unsigned char)(v >> (8 * i));
}
static inline void bs__putf64(bs__wr *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    bs__put64(w, v);
}
static inline void bs__put_bytes(bs__wr *w, const void *src, size_t len)
{
    if (len)
        memcpy(w->p, src, len);
    w->p += len;
}

static inline uint32_t bs__get32(bs__rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)*r->p++ << (8 * i);
    return v;
}
static inline uint64_t bs__get64(bs__rd *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)*r->p++ << (8 * i);
    return v;
}
static inline double bs__getf64(bs__rd *r)
{
    uint64_t v = bs__get64(r);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

#endif
