/*
 * tests/postmark-sim/sim_match.c: see sim_match.h.
 */
#include "tests/postmark-sim/sim_match.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char lower(char c) {
        return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

char *pmw_sim_lower(char *s) {
        for (char *p = s; *p; p++)
                *p = lower(*p);
        return s;
}

bool pmw_sim_ieq(const char *s, size_t len, const char *t) {
        for (size_t i = 0; i < len; i++) {
                if (t[i] == '\0' || lower(s[i]) != lower(t[i]))
                        return false;
        }
        return t[len] == '\0';
}

static void trim(const char **sp, size_t *lenp) {
        const char *s = *sp;
        size_t len    = *lenp;
        while (len > 0 && is_space(s[0])) {
                s++;
                len--;
        }
        while (len > 0 && is_space(s[len - 1]))
                len--;
        *sp   = s;
        *lenp = len;
}

/* local@domain: one '@' with text on both sides, nothing that cannot
 * appear in an unquoted address. */
static bool addr_valid(const char *a, size_t len) {
        size_t at = len;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)a[i];
                if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' ||
                    c == '"' || c == '(' || c == ')' || c == ';' || c == '\\' ||
                    c == '[' || c == ']')
                        return false;
                if (c == '@') {
                        if (at != len)
                                return false;
                        at = i;
                }
        }
        return at > 0 && at < len && at + 1 < len && a[at + 1] != '.' &&
               a[len - 1] != '.';
}

bool pmw_sim_addr_next(const char *s,
                       size_t len,
                       size_t *posp,
                       pmw_sim_addr_t *addr,
                       bool *okp) {
        size_t pos = *posp;
        for (;;) {
                if (pos >= len) {
                        *posp = pos;
                        return false;
                }
                /* Find the end of this entry. */
                size_t start = pos;
                bool quoted = false, angle = false;
                while (pos < len) {
                        char c = s[pos];
                        if (quoted) {
                                if (c == '\\' && pos + 1 < len)
                                        pos++;
                                else if (c == '"')
                                        quoted = false;
                        } else if (c == '"')
                                quoted = true;
                        else if (c == '<')
                                angle = true;
                        else if (c == '>')
                                angle = false;
                        else if (c == ',' && !angle)
                                break;
                        pos++;
                }
                const char *e = s + start;
                size_t elen   = pos - start;
                if (pos < len)
                        pos++; /* the comma */
                trim(&e, &elen);
                if (elen == 0)
                        continue;

                memset(addr, 0, sizeof(*addr));
                addr->raw      = e;
                addr->raw_len  = elen;
                *posp          = pos;
                const char *lt = NULL;
                for (size_t i = 0, q = 0; i < elen; i++) {
                        if (e[i] == '"')
                                q = !q;
                        else if (e[i] == '<' && !q)
                                lt = e + i;
                }
                if (lt == NULL) {
                        addr->addr     = e;
                        addr->addr_len = elen;
                        *okp           = addr_valid(e, elen);
                        return true;
                }
                const char *gt = memchr(lt, '>', elen - (size_t)(lt - e));
                if (gt == NULL || gt != e + elen - 1) {
                        *okp = false;
                        return true;
                }
                addr->addr     = lt + 1;
                addr->addr_len = (size_t)(gt - lt - 1);
                trim(&addr->addr, &addr->addr_len);
                const char *n = e;
                size_t nlen   = (size_t)(lt - e);
                trim(&n, &nlen);
                if (nlen >= 2 && n[0] == '"' && n[nlen - 1] == '"') {
                        n++;
                        nlen -= 2;
                }
                addr->name     = n;
                addr->name_len = nlen;
                *okp           = addr_valid(addr->addr, addr->addr_len);
                return true;
        }
}

bool pmw_sim_glob_match(const char *glob, const char *s, size_t len) {
        char small[256];
        char *tmp = len < sizeof(small) ? small : pmw_malloc(len + 1);
        for (size_t i = 0; i < len; i++)
                tmp[i] = lower(s[i]);
        tmp[len] = '\0';
        /* An embedded NUL would cut the subject short: never a match. */
        bool match = strlen(tmp) == len && fnmatch(glob, tmp, 0) == 0;
        if (tmp != small)
                free(tmp);
        return match;
}
