/*
 * tests/postmark-sim/sim_match.h: email address lists and glob matching
 * for the simulator.
 *
 * Postmark's To, Cc, Bcc, ReplyTo and From fields hold comma-separated
 * addresses, each optionally with a display name ("Jane Doe
 * <jane@example.com>", "\"Doe, Jane\" <jane@example.com>"). The simulator
 * needs the address parts: to count recipients, to check From against
 * --sender, and to match --inactive and fault globs. Globs use fnmatch(3)
 * without flags ('*' also matches '/' and '.'), compared in lower case, so
 * matching is case-insensitive as email addresses are in practice.
 *
 * This is written independently of the worker's own validation on purpose:
 * a simulator sharing the worker's parser would hide the worker's bugs.
 *
 * Ownership: every result borrows from the input string.
 * Thread safety: no state; safe from any thread.
 */
#ifndef PMW_SIM_MATCH_H
#define PMW_SIM_MATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pmw_sim_addr_s {
        const char *addr; /* the address part, borrowed */
        size_t addr_len;
        const char *name; /* display name without quotes, borrowed; may be
                             empty */
        size_t name_len;
        const char *raw; /* the whole entry, trimmed, for error messages */
        size_t raw_len;
} pmw_sim_addr_t;

/**
 * @brief Iterates over the entries of an address list s[0..len).
 *
 * Commas inside double quotes or angle brackets do not split entries.
 * Empty entries (", ,") are skipped.
 *
 * @param posp in/out: where to continue; start with 0.
 * @param addr receives the entry.
 * @param okp receives false when the entry is not a valid address
 *        (local@domain, no spaces or control characters, one '@'); addr->raw
 *        then names the bad entry.
 * @returns false when there are no more entries.
 */
bool pmw_sim_addr_next(const char *s,
                       size_t len,
                       size_t *posp,
                       pmw_sim_addr_t *addr,
                       bool *okp);

/**
 * @brief fnmatch(3) of s[0..len) against a glob, ignoring ASCII case.
 * @param glob borrows: NUL-terminated; must already be in lower case
 *        (pmw_sim_lower() it once when configured).
 */
bool pmw_sim_glob_match(const char *glob, const char *s, size_t len);

/** @brief Lower-cases ASCII letters of s in place; returns s. */
char *pmw_sim_lower(char *s);

/** @returns true if s[0..len) equals the NUL-terminated t ignoring ASCII
 *           case. */
bool pmw_sim_ieq(const char *s, size_t len, const char *t);

#endif /* PMW_SIM_MATCH_H */
