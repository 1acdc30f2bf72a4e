/* sentence_split.c — rule-based sentence boundaries (see sentence_split.h). */
#include "sentence_split.h"

#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "utf8.h"

static const char *const ABBREVIATIONS[] = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "al", "inc", "ltd", "co",
    "corp", "no", "vol", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mt", "gen", "gov", "sen", "rep", "lt", "col", "capt", "sgt", "u.s", "approx", "dept", "est",
};

static int is_abbreviation(const char *w, size_t n) {
    if (n == 1) return 1; /* an initial: "J. Smith" */
    for (size_t k = 0; k < sizeof ABBREVIATIONS / sizeof *ABBREVIATIONS; k++) {
        const char *a = ABBREVIATIONS[k];
        if (strlen(a) != n) continue;
        size_t i = 0;
        while (i < n && (w[i] | 32) == a[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

static int is_closing(uint8_t c) { return c == '"' || c == '\'' || c == ')' || c == ']'; }

size_t sentence_split(const char *text, size_t len, size_t *ends, size_t max_ends) {
    const uint8_t *s = (const uint8_t *)text;
    size_t n = 0;
    if (max_ends == 0) return 0;
    for (size_t i = 0; i < len && n + 1 < max_ends; i++) {
        if (s[i] != '.' && s[i] != '!' && s[i] != '?') continue;
        size_t e = i + 1;
        while (e < len && (s[e] == '.' || s[e] == '!' || s[e] == '?')) e++;
        while (e < len && is_closing(s[e])) e++;
        size_t w = e;
        while (w < len && (s[w] == ' ' || s[w] == '\t' || s[w] == '\n' || s[w] == '\r')) w++;
        if (w == e || w >= len) continue;
        size_t adv;
        uint32_t next = utf8_decode(s + w, len - w, &adv);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)next);
        if (!(cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT || (next >= '0' && next <= '9') ||
              next == '"' || next == '\'' || next == '(' || next == 0x201C || next == 0x2018))
            continue;
        if (s[i] == '.') { /* the word before the period */
            size_t b = i;
            while (b > 0 && s[b - 1] != ' ' && s[b - 1] != '\t' && s[b - 1] != '\n' && s[b - 1] != '(' && s[b - 1] != '"') b--;
            if (is_abbreviation(text + b, i - b)) continue;
        }
        ends[n++] = e;
        i = e - 1;
    }
    ends[n++] = len;
    return n;
}
