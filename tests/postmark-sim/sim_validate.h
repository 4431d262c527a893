/*
 * tests/postmark-sim/sim_validate.h: Postmark's message rules, as the
 * simulator enforces them.
 *
 * Two steps, because Postmark (since its Nov 2023 validation change)
 * rejects a whole request when any message cannot be deserialised:
 *
 *  1. pmw_sim_msg_fields() checks the shape of one message object: every
 *     field known for the endpoint, of the right JSON type (null counts as
 *     absent), no field twice. A failure names the field and is an HTTP 422
 *     ErrorCode 403 "Invalid request field(s) - <Field>" for the request.
 *  2. pmw_sim_msg_check() applies the per-message rules and the
 *     simulator's configuration (--sender, --template, --stream,
 *     --inactive) and returns the message's ErrorCode and Message.
 *
 * Rules and texts follow postmark-api.md sections 3-6 and 12. Where the real
 * API's wording or code is not known the text says what is wrong in
 * Postmark's style; those cases are marked "inferred" in the .c file.
 * This module is written independently of the worker's own validation: a
 * simulator sharing it would hide the worker's bugs.
 *
 * Ownership: rules are borrowed and must outlive every call; messages
 * borrow the parsed document. Thread safety: no state; rules are read-only
 * after start, so any thread may call these concurrently.
 */
#ifndef PMW_SIM_VALIDATE_H
#define PMW_SIM_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/jsontok.h"

/* Limits (postmark-api.md section 12). */
#define PMW_SIM_MAX_RECIPIENTS 50
#define PMW_SIM_MAX_FROM_UNITS 255
#define PMW_SIM_MAX_SUBJECT    2000
#define PMW_SIM_MAX_TAG        1000
#define PMW_SIM_MAX_BODY_BYTES (5 * 1024 * 1024)
#define PMW_SIM_MAX_BATCH      500

/* The configuration the rules depend on; immutable after start. */
typedef struct pmw_sim_rules_s {
        char **senders; /* lower case; an entry with * ? or [ is a glob */
        size_t n_senders;
        char **inactive; /* lower-case globs */
        size_t n_inactive;
        char **templates; /* aliases or decimal ids */
        size_t n_templates;
        char **streams; /* besides outbound and broadcast */
        size_t n_streams;
} pmw_sim_rules_t;

/* Token indexes of one message's fields; 0 = absent or null. */
typedef struct pmw_sim_msg_s {
        uint32_t tok; /* the message object */
        uint32_t from, to, cc, bcc, subject, tag, html_body, text_body,
            reply_to, headers, track_opens, track_links, metadata, attachments,
            stream, template_id, template_alias, template_model, inline_css;
} pmw_sim_msg_t;

/**
 * @brief Step 1: checks the fields of the message object at token tok.
 * @param templated true for /email/withTemplate and batchWithTemplates
 *        (Template* fields allowed; Subject, HtmlBody, TextBody unknown).
 * @param bad_field on failure receives the field's name, e.g. "Foo",
 *        "Attachments.Foo" (reset first).
 * @returns true if the message can be deserialised.
 */
bool pmw_sim_msg_fields(const pmw_jsontok_t *doc,
                        uint32_t tok,
                        bool templated,
                        pmw_sim_msg_t *msg,
                        pmw_buf_t *bad_field);

/**
 * @brief Step 2: the per-message rules.
 * @param acceptedp receives true when the message is accepted: ErrorCode 0,
 *        or 406 when only some of its recipients are inactive.
 * @param text receives the Message (reset first).
 * @returns the ErrorCode: 0, 300, 406, 411, 1101 or 1235.
 */
int pmw_sim_msg_check(const pmw_jsontok_t *doc,
                      const pmw_sim_msg_t *msg,
                      const pmw_sim_rules_t *rules,
                      bool templated,
                      bool *acceptedp,
                      pmw_buf_t *text);

/**
 * @brief Appends to list (", "-separated) each recipient (To, Cc, Bcc) of
 *        the message that matches one of the lower-case globs.
 * @returns the number of matching recipients; *totalp receives the number
 *          of recipients.
 */
size_t pmw_sim_msg_match_recipients(const pmw_jsontok_t *doc,
                                    const pmw_sim_msg_t *msg,
                                    char *const *globs,
                                    size_t n_globs,
                                    size_t *totalp,
                                    pmw_buf_t *list);

/** @returns true if s[0..len) is a syntactically valid MIME type
 *           ("type/subtype", optional parameters). */
bool pmw_sim_mime_type_valid(const char *s, size_t len);

/** @returns true if s[0..len) is valid base64 (RFC 4648, padded; line
 *           breaks allowed). */
bool pmw_sim_base64_valid(const char *s, size_t len);

/** The text of an all-inactive 406, naming the addresses. */
void pmw_sim_inactive_text(pmw_buf_t *text, const char *list, bool partial);

#endif /* PMW_SIM_VALIDATE_H */
