/*
 * worker/tracker.c: see tracker.h.
 *
 * Invariant: after every call, the head entry (if any) is not done, so the
 * committable offset is offsets[head]. Entries are in strictly increasing
 * offset order from head to tail, which is what the binary search needs.
 */
#include "worker/tracker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* A partition usually has at most a few batches in flight: 256 entries
 * cover that without growing, for 2.3 KB. */
#define TRACKER_INITIAL_CAP 256

/* The ring index of the i-th entry from the head. */
static size_t slot(const pmw_tracker_t *t, size_t i) {
        return (t->head + i) & (t->cap - 1);
}

/* Doubles the ring, unwrapping it so the head is at index 0. */
static void grow(pmw_tracker_t *t) {
        size_t ncap       = t->cap ? t->cap * 2 : TRACKER_INITIAL_CAP;
        int64_t *noffsets = pmw_malloc(ncap * sizeof(*noffsets));
        uint8_t *ndone    = pmw_malloc(ncap * sizeof(*ndone));
        for (size_t i = 0; i < t->count; i++) {
                size_t s    = slot(t, i);
                noffsets[i] = t->offsets[s];
                ndone[i]    = t->done[s];
        }
        free(t->offsets);
        free(t->done);
        t->offsets = noffsets;
        t->done    = ndone;
        t->cap     = ncap;
        t->head    = 0;
}

void pmw_tracker_init(pmw_tracker_t *t) {
        memset(t, 0, sizeof(*t));
        t->last_added = -1;
        t->reported   = -1;
}

void pmw_tracker_cleanup(pmw_tracker_t *t) {
        free(t->offsets);
        free(t->done);
        pmw_tracker_init(t);
}

void pmw_tracker_reset(pmw_tracker_t *t) {
        pmw_tracker_cleanup(t);
}

void pmw_tracker_add(pmw_tracker_t *t, int64_t offset) {
        assert(offset >= 0 && offset > t->last_added);
        if (offset < 0 || offset <= t->last_added)
                return;
        if (t->count == t->cap)
                grow(t);
        size_t s      = slot(t, t->count);
        t->offsets[s] = offset;
        t->done[s]    = 0;
        t->count++;
        if (t->last_added < 0)
                t->reported = offset;
        t->last_added = offset;
}

/* The position from the head of offset in the ring, or count if absent. */
static size_t find(const pmw_tracker_t *t, int64_t offset) {
        size_t lo = 0, hi = t->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int64_t v  = t->offsets[slot(t, mid)];
                if (v == offset)
                        return mid;
                if (v < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return t->count;
}

void pmw_tracker_done(pmw_tracker_t *t, int64_t offset) {
        size_t i = find(t, offset);
        assert(i < t->count && !t->done[slot(t, i)]);
        if (i == t->count || t->done[slot(t, i)])
                return;
        t->done[slot(t, i)] = 1;
        t->ndone++;
        /* Release the run of done entries at the head; each entry is popped
         * once, so this is amortised O(1) per job. */
        while (t->count > 0 && t->done[t->head]) {
                t->head = (t->head + 1) & (t->cap - 1);
                t->count--;
                t->ndone--;
        }
}

int64_t pmw_tracker_commit_offset(const pmw_tracker_t *t) {
        if (t->last_added < 0)
                return -1;
        if (t->count > 0)
                return t->offsets[t->head];
        return t->last_added + 1;
}

bool pmw_tracker_take_commit(pmw_tracker_t *t, int64_t *offsetp) {
        int64_t offset = pmw_tracker_commit_offset(t);
        if (offset == t->reported)
                return false;
        t->reported = offset;
        *offsetp    = offset;
        return true;
}

size_t pmw_tracker_pending(const pmw_tracker_t *t) {
        return t->count - t->ndone;
}
