/*
 * A NumPy memory handler (NEP 49) that places big array buffers in memfds from the start.
 *
 * A buffer of at least `threshold` bytes gets its own memfd, mapped MAP_SHARED (and
 * madvised for huge pages). When a component ends, cellpipe "seals" such a buffer: the
 * same memfd is mapped again MAP_PRIVATE at the same address (MAP_FIXED), so the array
 * keeps its address and every view, alias or frame built on it, the memfd holds the value
 * as it was (the stored copy, mapped copy-on-write by each consumer) and a later write
 * makes a private page instead of reaching it. No byte is copied.
 *
 * Smaller buffers go to the handler that was in place (NumPy's default). The library needs
 * neither Python's nor NumPy's headers: cellpipe builds the handler's capsule and installs
 * it with ctypes (cellpipe/cache/values/alloc.py). Linux only (memfd_create, mremap).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} Allocator; /* PyDataMemAllocator, version 1 */

typedef struct {
    char name[127];
    uint8_t version;
    Allocator allocator;
} Handler; /* PyDataMem_Handler */

typedef struct {
    char *base;    /* the mapping */
    size_t size;   /* bytes mapped (the memfd's size) */
    int fd;
    int sealed;    /* mapped MAP_PRIVATE: the memfd no longer changes */
} Region;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Region *regions = NULL;
static size_t count = 0, capacity = 0;
static size_t threshold = (size_t)64 << 20;
static int huge = 1;
static Allocator fallback; /* the handler in place before ours */
static unsigned long made = 0; /* regions made, ever (tests) */
static uintptr_t page_mask = 4095;

#define HUGE_PAGE ((size_t)2 << 20)

static size_t rounded(size_t n) {
    size_t unit = huge ? HUGE_PAGE : (size_t)sysconf(_SC_PAGESIZE);
    return (n + unit - 1) / unit * unit;
}

/* index of the region containing p, or -1; the lock is held */
static long find(const void *p) {
    for (size_t i = 0; i < count; i++) {
        if ((const char *)p >= regions[i].base && (const char *)p < regions[i].base + regions[i].size)
            return (long)i;
    }
    return -1;
}

static int add(Region r) {
    if (count == capacity) {
        size_t cap = capacity ? capacity * 2 : 16;
        Region *grown = realloc(regions, cap * sizeof(Region));
        if (!grown) return -1;
        regions = grown;
        capacity = cap;
    }
    regions[count++] = r;
    return 0;
}

static void release(size_t i) {
    munmap(regions[i].base, regions[i].size);
    close(regions[i].fd);
    regions[i] = regions[--count];
}

static void *new_region(size_t n) {
    size_t size = rounded(n);
    int fd = memfd_create("cellpipe-array", MFD_CLOEXEC);
    if (fd < 0) return NULL;
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return NULL;
    }
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        close(fd);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (huge) madvise(base, size, MADV_HUGEPAGE);
#endif
    Region r = {base, size, fd, 0};
    pthread_mutex_lock(&lock);
    int failed = add(r);
    if (!failed) made++;
    pthread_mutex_unlock(&lock);
    if (failed) {
        munmap(base, size);
        close(fd);
        return NULL;
    }
    return base;
}

/* a region's buffer is page aligned: anything else is the fallback's */
static int maybe_ours(const void *p) {
    return p != NULL && ((uintptr_t)p & page_mask) == 0 && count > 0;
}

static void *cp_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (size >= threshold) {
        void *p = new_region(size);
        if (p) return p;
    }
    return fallback.malloc(fallback.ctx, size);
}

static void *cp_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (elsize && nelem > SIZE_MAX / elsize) return NULL;
    if (nelem * elsize >= threshold) {
        void *p = new_region(nelem * elsize); /* a new memfd reads as zeros */
        if (p) return p;
    }
    return fallback.calloc(fallback.ctx, nelem, elsize);
}

static void cp_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (maybe_ours(ptr)) {
        pthread_mutex_lock(&lock);
        long i = find(ptr);
        if (i >= 0 && regions[i].base == ptr) {
            release((size_t)i);
            pthread_mutex_unlock(&lock);
            return;
        }
        pthread_mutex_unlock(&lock);
    }
    fallback.free(fallback.ctx, ptr, size);
}

static void *cp_realloc(void *ctx, void *ptr, size_t new_size) {
    (void)ctx;
    if (maybe_ours(ptr)) {
        pthread_mutex_lock(&lock);
        long i = find(ptr);
        if (i >= 0 && regions[i].base == ptr) {
            Region r = regions[i];
            if (!r.sealed && new_size >= threshold) { /* grow or shrink the memfd in place */
                size_t size = rounded(new_size);
                if (ftruncate(r.fd, (off_t)size) == 0) {
                    void *moved = mremap(r.base, r.size, size, MREMAP_MAYMOVE);
                    if (moved != MAP_FAILED) {
                        regions[i].base = moved;
                        regions[i].size = size;
                        pthread_mutex_unlock(&lock);
                        return moved;
                    }
                    if (ftruncate(r.fd, (off_t)r.size) != 0) { /* keep it as it was */ }
                }
            }
            pthread_mutex_unlock(&lock);
            /* a sealed buffer's memfd is a stored value: never resized; copy instead */
            void *fresh = cp_malloc(NULL, new_size);
            if (!fresh) return NULL;
            memcpy(fresh, ptr, new_size < r.size ? new_size : r.size);
            cp_free(NULL, ptr, r.size);
            return fresh;
        }
        pthread_mutex_unlock(&lock);
    }
    if (new_size >= threshold && ptr == NULL) return cp_malloc(NULL, new_size);
    return fallback.realloc(fallback.ctx, ptr, new_size);
}

static Handler handler = {
    "cellpipe_memfd", 1, {NULL, cp_malloc, cp_calloc, cp_realloc, cp_free}};

/* --- the interface cellpipe calls through ctypes ------------------------------------ */

/* The handler to put in a "mem_handler" capsule, delegating to `previous` below threshold. */
Handler *cp_handler(const Handler *previous, size_t min_bytes, int huge_pages) {
    fallback = previous->allocator;
    threshold = min_bytes;
    huge = huge_pages;
    return &handler;
}

/* The region holding address p: fills base, size, fd (the region's own, not a copy) and
 * sealed; returns 1, or 0 when p is in no region. */
int cp_region(const void *p, uintptr_t *base, size_t *size, int *fd, int *sealed) {
    pthread_mutex_lock(&lock);
    long i = find(p);
    if (i >= 0) {
        *base = (uintptr_t)regions[i].base;
        *size = regions[i].size;
        *fd = regions[i].fd;
        *sealed = regions[i].sealed;
    }
    pthread_mutex_unlock(&lock);
    return i >= 0;
}

static int remap_private(Region *r) {
    void *at = mmap(r->base, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, r->fd, 0);
    if (at == MAP_FAILED) return -1;
#ifdef MADV_HUGEPAGE
    if (huge) madvise(r->base, r->size, MADV_HUGEPAGE);
#endif
    return 0;
}

/* Seal the region holding p (see the top): 0, or -1 with errno set. */
int cp_seal(const void *p) {
    pthread_mutex_lock(&lock);
    long i = find(p);
    int rc = 0;
    if (i < 0) {
        errno = ENOENT;
        rc = -1;
    } else if (!regions[i].sealed) {
        rc = remap_private(&regions[i]);
        if (rc == 0) regions[i].sealed = 1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

unsigned long cp_made(void) { return made; }

/* A forked child must not write into its parent's arrays: its unsealed regions become
 * private copies (copy-on-write of the memfd, as fork gives for ordinary memory). */
static void in_child(void) {
    for (size_t i = 0; i < count; i++) {
        if (!regions[i].sealed && remap_private(&regions[i]) == 0) regions[i].sealed = 2;
    }
    pthread_mutex_unlock(&lock);
}

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void in_parent(void) { pthread_mutex_unlock(&lock); }

__attribute__((constructor)) static void at_load(void) {
    page_mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
    pthread_atfork(before_fork, in_parent, in_child);
}
