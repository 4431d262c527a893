/*
 * worker/tracker.h: the per-partition offset tracker.
 *
 * At-least-once (CONTRACT 3.1) means a partition's committed offset may pass
 * a job only when that job is final and its status record (and dead-letter
 * record, if any) is acknowledged by Kafka. Jobs finish out of order (batches
 * to different servers, retries, splits), so the tracker remembers every job
 * of the partition that was added and not yet done, and the committable
 * offset is the offset of the lowest job not yet done, or the last offset
 * added + 1 when all are done (Kafka commits "the next offset to read").
 *
 * Offsets arrive strictly increasing but with gaps (compaction, transaction
 * markers, records the consumer skipped), so the tracker stores the offsets
 * themselves, not a bitmap from a base offset: a ring buffer of offsets and
 * done flags, in offset order. add appends at the tail (amortised O(1), the
 * ring doubles when full); done finds the offset by binary search
 * (O(log n)) and then pops the run of done entries at the head (amortised
 * O(1) per job). Memory is 9 bytes per job in flight, and is given back by
 * pmw_tracker_reset() and pmw_tracker_cleanup().
 *
 * The struct is exposed so it can be embedded in a partition's state; its
 * fields are private: use the functions.
 *
 * Ownership: the tracker owns its ring; no pointer parameters are kept.
 * Thread safety: none. A tracker belongs to the thread that owns its
 *   partition; a caller that adds from one thread and marks done from
 *   another (e.g. a delivery report callback) serialises the calls itself.
 */
#ifndef PMW_WORKER_TRACKER_H
#define PMW_WORKER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pmw_tracker_s {
        int64_t *offsets;   /* private: ring of offsets, cap entries */
        uint8_t *done;      /* private: ring of done flags, cap entries */
        size_t cap;         /* private: 0 or a power of two */
        size_t head;        /* private: index of the lowest entry */
        size_t count;       /* private: entries in the ring */
        size_t ndone;       /* private: entries in the ring marked done */
        int64_t last_added; /* private: -1 when nothing was added */
        int64_t reported;   /* private: last offset take_commit returned,
                             * or the first offset added; -1 before */
} pmw_tracker_t;

/**
 * @brief Initialises an empty tracker. Allocates nothing (the ring is
 *        allocated by the first add).
 * @param t borrows: storage to initialise.
 */
void pmw_tracker_init(pmw_tracker_t *t);

/** @brief Frees the ring. The tracker may be initialised again. */
void pmw_tracker_cleanup(pmw_tracker_t *t);

/**
 * @brief Records a job read at offset, not yet done.
 *
 * @param offset >= 0 and greater than every offset added since the last
 *        init or reset (gaps allowed). Anything else is a bug: it asserts in
 *        debug builds and is ignored in release builds.
 */
void pmw_tracker_add(pmw_tracker_t *t, int64_t offset);

/**
 * @brief Marks the job at offset done (final and acknowledged).
 *
 * When offset is the lowest pending job, it and the run of done jobs after
 * it are released and the committable offset moves.
 *
 * @param offset an offset added and not yet marked done. Anything else (an
 *        unknown offset, one done twice, one added before a reset) is a bug:
 *        it asserts in debug builds and is ignored in release builds.
 */
void pmw_tracker_done(pmw_tracker_t *t, int64_t offset);

/**
 * @brief Reports the offset to commit when it moved.
 *
 * The first offset added (after init or reset) is the starting point: the
 * consumer read from there, so committing it would change nothing. Later,
 * whenever pmw_tracker_commit_offset() differs from the last offset this
 * function returned (or from that starting point), it returns true once
 * with the new offset, so the caller stores it once
 * (rd_kafka_offsets_store()).
 *
 * @param offsetp receives the offset to commit when true is returned;
 *        untouched otherwise.
 * @returns true when there is a new offset to commit.
 */
bool pmw_tracker_take_commit(pmw_tracker_t *t, int64_t *offsetp);

/**
 * @returns the committable offset: the lowest offset not yet done, or the
 *          last offset added + 1 when every job is done; -1 when nothing
 *          was added since init or reset.
 */
int64_t pmw_tracker_commit_offset(const pmw_tracker_t *t);

/** @returns the number of jobs added and not yet done. */
size_t pmw_tracker_pending(const pmw_tracker_t *t);

/**
 * @brief Forgets everything (the partition was revoked or lost) and frees
 *        the ring; the tracker is as after pmw_tracker_init(), and the next
 *        add may start from any offset.
 */
void pmw_tracker_reset(pmw_tracker_t *t);

#endif /* PMW_WORKER_TRACKER_H */
