/* bpe.c — GPT-2 byte-level BPE: loading, pre-tokenisation, merging (see bpe.h). */
#include "bpe.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "file_util.h"
#include "utf8.h"

/* ---- tables ------------------------------------------------------------- */

typedef struct vocab_entry { /* token bytes -> id (open addressing; id < 0: empty) */
    uint64_t hash;
    uint32_t off, len;
    int32_t id;
} vocab_entry_t;

typedef struct pair_entry { /* (left id, right id) -> merge rank and merged id */
    uint64_t key;
    int32_t rank, result;
} pair_entry_t;

#define PAIR_EMPTY UINT64_MAX

struct bpe {
    uint8_t *blob; /* every token's bytes, back to back */
    size_t blob_len, blob_cap;
    uint32_t *tok_off, *tok_len; /* per id */
    int n_ids, eod;
    int32_t byte_id[256];
    vocab_entry_t *vmap;
    size_t vcap; /* power of two */
    pair_entry_t *pmap;
    size_t pcap;
    int whole_piece_lookup; /* tiktoken: a piece that is itself a token is that token */
};

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

static vocab_entry_t *vmap_slot(const bpe_t *b, const uint8_t *s, size_t n, uint64_t h) {
    size_t i = (size_t)h & (b->vcap - 1);
    for (;;) {
        vocab_entry_t *e = &b->vmap[i];
        if (e->id < 0) return e;
        if (e->hash == h && e->len == n && memcmp(b->blob + e->off, s, n) == 0) return e;
        i = (i + 1) & (b->vcap - 1);
    }
}

static int vocab_lookup(const bpe_t *b, const uint8_t *s, size_t n) {
    return vmap_slot(b, s, n, fnv1a64(s, n, FNV1A64_INIT))->id;
}

static inline uint64_t pair_key(int32_t a, int32_t c) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)c; }

static const pair_entry_t *pair_lookup(const bpe_t *b, int32_t a, int32_t c) {
    uint64_t k = pair_key(a, c);
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL >> 20) & (b->pcap - 1);
    for (;;) {
        const pair_entry_t *e = &b->pmap[i];
        if (e->key == k) return e;
        if (e->key == PAIR_EMPTY) return NULL;
        i = (i + 1) & (b->pcap - 1);
    }
}

/* Inserts or overwrites (a later duplicate merge wins, as a Python dict would). */
static void pair_insert(bpe_t *b, int32_t a, int32_t c, int32_t rank, int32_t result) {
    uint64_t k = pair_key(a, c);
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ULL >> 20) & (b->pcap - 1);
    while (b->pmap[i].key != PAIR_EMPTY && b->pmap[i].key != k) i = (i + 1) & (b->pcap - 1);
    b->pmap[i].key = k;
    b->pmap[i].rank = rank;
    b->pmap[i].result = result;
}

static int pairs_alloc(bpe_t *b, size_t n, err_t *err) {
    b->pcap = pow2_at_least(2 * n + 1);
    b->pmap = malloc(b->pcap * sizeof *b->pmap);
    if (!b->pmap) return err_set(err, "out of memory for %zu BPE merges", n);
    for (size_t i = 0; i < b->pcap; i++) b->pmap[i].key = PAIR_EMPTY;
    return 0;
}

/* Allocates the per-id arrays and the byte-string map for n ids. */
static int vocab_alloc(bpe_t *b, int n, err_t *err) {
    b->n_ids = n;
    b->tok_off = calloc((size_t)n, sizeof *b->tok_off);
    b->tok_len = calloc((size_t)n, sizeof *b->tok_len);
    b->vcap = pow2_at_least(2 * (size_t)n + 1);
    b->vmap = malloc(b->vcap * sizeof *b->vmap);
    if (!b->tok_off || !b->tok_len || !b->vmap) return err_set(err, "out of memory for a vocabulary of %d", n);
    for (size_t i = 0; i < b->vcap; i++) b->vmap[i].id = -1;
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    return 0;
}

/* Records token `id` with bytes s[0..n); `mapped` also enters it in the
 * bytes -> id map (special tokens are not, so they never come out of merging).
 * Returns 1 if those bytes are already another token's. */
static int vocab_set(bpe_t *b, int id, const uint8_t *s, size_t n, int mapped, err_t *err) {
    if (n > UINT32_MAX || b->blob_len + n > UINT32_MAX) return err_set(err, "vocabulary too large");
    if (b->blob_len + n > b->blob_cap) {
        if (buf_reserve((void **)&b->blob, &b->blob_cap, b->blob_len + n, 1) != 0)
            return err_set(err, "out of memory for token bytes");
    }
    if (mapped) {
        uint64_t h = fnv1a64(s, n, FNV1A64_INIT);
        vocab_entry_t *e = vmap_slot(b, s, n, h);
        if (e->id >= 0) return 1;
        e->hash = h;
        e->off = (uint32_t)b->blob_len;
        e->len = (uint32_t)n;
        e->id = id;
        if (n == 1) b->byte_id[s[0]] = id;
    }
    if (n) memcpy(b->blob + b->blob_len, s, n);
    b->tok_off[id] = (uint32_t)b->blob_len;
    b->tok_len[id] = (uint32_t)n;
    b->blob_len += n;
    return 0;
}

void bpe_free(bpe_t *b) {
    if (!b) return;
    free(b->blob);
    free(b->tok_off);
    free(b->tok_len);
    free(b->vmap);
    free(b->pmap);
    free(b);
}

int bpe_vocab_size(const bpe_t *b) { return b->n_ids; }
int bpe_eod(const bpe_t *b) { return b->eod; }

/* ---- GPT-2's byte <-> unicode alphabet ---------------------------------- */

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the
 * other 68 bytes for U+0100.. in byte order. Fills the inverse (code point -> byte). */
static void byte_alphabet(int16_t uni_to_byte[324]) {
    for (int i = 0; i < 324; i++) uni_to_byte[i] = -1;
    int extra = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        uni_to_byte[printable ? c : 256 + extra++] = (int16_t)c;
    }
}

/* Decodes a byte-level token string into bytes; -1 if a character is outside the alphabet. */
static int alphabet_decode(const int16_t uni_to_byte[324], const char *s, size_t n, byte_buf_t *out) {
    out->n = 0;
    size_t i = 0;
    while (i < n) {
        size_t adv;
        uint32_t cp = utf8_decode((const uint8_t *)s + i, n - i, &adv);
        if (cp >= 324 || uni_to_byte[cp] < 0) return -1;
        uint8_t byte = (uint8_t)uni_to_byte[cp];
        if (byte_buf_append(out, &byte, 1) != 0) return -2;
        i += adv;
    }
    return 0;
}

static int check_bytes_complete(const bpe_t *b, const char *path, err_t *err) {
    for (int c = 0; c < 256; c++)
        if (b->byte_id[c] < 0) return err_set(err, "%s: no token for the single byte 0x%02x (byte-level BPE needs all 256)", path, c);
    return 0;
}

int bpe_load_gpt2(bpe_t **out, const char *vocab_json, const char *merges_txt, err_t *err) {
    *out = NULL;
    bpe_t *b = calloc(1, sizeof *b);
    char *text = NULL;
    size_t len;
    cJSON *root = NULL;
    byte_buf_t tmp = {0}, tmp2 = {0};
    int16_t u2b[324];
    byte_alphabet(u2b);
    if (!b) return err_set(err, "out of memory loading the BPE vocabulary");
    b->eod = -1;
    if (file_read_all(vocab_json, "--vocab-file", &text, &len, err) != 0) goto fail;
    root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        err_set(err, "--vocab-file %s: not a JSON object (GPT-2's vocab.json maps token strings to ids)", vocab_json);
        goto fail;
    }
    int n = cJSON_GetArraySize(root);
    if (n <= 256) {
        err_set(err, "--vocab-file %s: %d entries; a byte-level BPE vocabulary has more than 256", vocab_json, n);
        goto fail;
    }
    if (vocab_alloc(b, n, err) != 0) goto fail;
    char *seen = calloc((size_t)n, 1);
    if (!seen) {
        err_set(err, "out of memory");
        goto fail;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
        if (v < 0 || v >= n || v != (double)(int)v) {
            err_set(err, "--vocab-file %s: token '%s' has id %s; ids must be the integers 0..%d", vocab_json,
                    item->string, cJSON_IsNumber(item) ? "out of range" : "that is not a number", n - 1);
            free(seen);
            goto fail;
        }
        int id = (int)v;
        if (seen[id]) {
            err_set(err, "--vocab-file %s: id %d is given twice", vocab_json, id);
            free(seen);
            goto fail;
        }
        seen[id] = 1;
        int rc = alphabet_decode(u2b, item->string, strlen(item->string), &tmp);
        if (rc == -2) {
            err_set(err, "out of memory");
            free(seen);
            goto fail;
        }
        if (rc != 0) {
            err_set(err, "--vocab-file %s: token '%s' has a character outside GPT-2's byte-level alphabet", vocab_json,
                    item->string);
            free(seen);
            goto fail;
        }
        int is_eod = strcmp(item->string, "<|endoftext|>") == 0;
        if (is_eod) b->eod = id;
        rc = vocab_set(b, id, tmp.v, tmp.n, 1, err);
        if (rc < 0) {
            free(seen);
            goto fail;
        }
        if (rc == 1) {
            err_set(err, "--vocab-file %s: token '%s' appears twice", vocab_json, item->string);
            free(seen);
            goto fail;
        }
    }
    free(seen);
    cJSON_Delete(root);
    root = NULL;
    free(text);
    text = NULL;
    if (b->eod < 0) {
        err_set(err, "--vocab-file %s: no \"<|endoftext|>\" token", vocab_json);
        goto fail;
    }
    if (check_bytes_complete(b, vocab_json, err) != 0) goto fail;

    /* merges.txt: "#version: 0.2" then "left right" per line, in rank order */
    if (file_read_all(merges_txt, "--merge-file", &text, &len, err) != 0) goto fail;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (pairs_alloc(b, lines, err) != 0) goto fail;
    size_t pos = 0;
    int lineno = 0, rank = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        lineno++;
        char *line = text + pos;
        size_t ll = e - pos;
        pos = e + 1;
        while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' ' || line[ll - 1] == '\t')) ll--;
        if (ll == 0 || (lineno == 1 && line[0] == '#')) continue;
        char *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || sp + 1 == line + ll || memchr(sp + 1, ' ', (size_t)(line + ll - sp - 1))) {
            err_set(err, "--merge-file %s:%d: expected two tokens separated by one space", merges_txt, lineno);
            goto fail;
        }
        size_t la = (size_t)(sp - line), lb = ll - la - 1;
        if (alphabet_decode(u2b, line, la, &tmp) != 0 || alphabet_decode(u2b, sp + 1, lb, &tmp2) != 0) {
            err_set(err, "--merge-file %s:%d: a character outside GPT-2's byte-level alphabet", merges_txt, lineno);
            goto fail;
        }
        int a = vocab_lookup(b, tmp.v, tmp.n), c = vocab_lookup(b, tmp2.v, tmp2.n);
        if (byte_buf_append(&tmp, tmp2.v, tmp2.n) != 0) {
            err_set(err, "out of memory");
            goto fail;
        }
        int r = vocab_lookup(b, tmp.v, tmp.n);
        if (a < 0 || c < 0 || r < 0) {
            err_set(err, "--merge-file %s:%d: merge '%.*s' names a token that is not in the vocabulary", merges_txt,
                    lineno, (int)ll, line);
            goto fail;
        }
        pair_insert(b, a, c, rank++, r);
    }
    if (rank == 0) {
        err_set(err, "--merge-file %s: no merges", merges_txt);
        goto fail;
    }
    free(text);
    free(tmp.v);
    free(tmp2.v);
    *out = b;
    return 0;
fail:
    cJSON_Delete(root);
    free(text);
    free(tmp.v);
    free(tmp2.v);
    bpe_free(b);
    return -1;
}

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with '=' padding; -1 on a malformed string. */
static int b64_decode(const char *s, size_t n, byte_buf_t *out) {
    out->n = 0;
    if (n % 4) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0, pad++;
            } else {
                if (pad) return -1;
                v[k] = b64_value((unsigned char)s[i + k]);
                if (v[k] < 0) return -1;
            }
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        if (byte_buf_append(out, bytes, (size_t)(3 - pad)) != 0) return -2;
    }
    return 0;
}

int bpe_load_tiktoken(bpe_t **out, const char *path, err_t *err) {
    *out = NULL;
    char *text = NULL;
    size_t len;
    byte_buf_t tmp = {0};
    bpe_t *b = calloc(1, sizeof *b);
    if (!b) return err_set(err, "out of memory loading the BPE vocabulary");
    if (file_read_all(path, "--tiktoken-file", &text, &len, err) != 0) goto fail;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len && text[len - 1] != '\n') lines++;
    if (lines <= 256 || lines > (size_t)INT32_MAX - 2) {
        err_set(err, "--tiktoken-file %s: %zu lines; a byte-level BPE rank file has more than 256", path, lines);
        goto fail;
    }
    int n = (int)lines; /* ranks 0..n-1, checked below; EOD = n */
    if (vocab_alloc(b, n + 1, err) != 0) goto fail;
    char *seen = calloc((size_t)n, 1);
    if (!seen) {
        err_set(err, "out of memory");
        goto fail;
    }
    size_t pos = 0;
    int lineno = 0, count = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        lineno++;
        char *line = text + pos;
        size_t ll = e - pos;
        pos = e + 1;
        if (ll && line[ll - 1] == '\r') ll--;
        if (ll == 0) continue;
        char *sp = memchr(line, ' ', ll);
        char *end = NULL;
        long r = -1;
        if (sp) {
            line[ll] = 0;
            r = strtol(sp + 1, &end, 10);
        }
        if (!sp || end == sp + 1 || *end || r < 0 || r >= n) {
            err_set(err, "--tiktoken-file %s:%d: expected 'base64 rank' with a rank below %d", path, lineno, n);
            free(seen);
            goto fail;
        }
        int rc = b64_decode(line, (size_t)(sp - line), &tmp);
        if (rc != 0 || tmp.n == 0) {
            err_set(err, "--tiktoken-file %s:%d: %s", path, lineno, rc == -2 ? "out of memory" : "bad base64 token");
            free(seen);
            goto fail;
        }
        if (seen[r]) {
            err_set(err, "--tiktoken-file %s:%d: rank %ld is given twice", path, lineno, r);
            free(seen);
            goto fail;
        }
        seen[r] = 1;
        rc = vocab_set(b, (int)r, tmp.v, tmp.n, 1, err);
        if (rc < 0) {
            free(seen);
            goto fail;
        }
        if (rc == 1) {
            err_set(err, "--tiktoken-file %s:%d: this token appears twice", path, lineno);
            free(seen);
            goto fail;
        }
        count++;
    }
    free(seen);
    if (count != n) {
        err_set(err, "--tiktoken-file %s: %d tokens but ranks must be 0..%d without gaps", path, count, count - 1);
        goto fail;
    }
    if (check_bytes_complete(b, path, err) != 0) goto fail;
    b->eod = n;
    static const char eot[] = "<|endoftext|>";
    if (vocab_set(b, n, (const uint8_t *)eot, sizeof eot - 1, 0, err) < 0) goto fail;
    /* tiktoken's rule: two adjacent parts merge with the rank of their concatenation,
     * so every split of a token into two tokens is a merge of that rank. The search is
     * linear in the file, not quadratic in a token's length (a 100 KB token took 13 s):
     * both parts are strictly shorter tokens, so they are at most `longest_below(l)`
     * long, which leaves no split to try for a token over twice the length of every
     * shorter one; the prefix hash grows by one byte per split, and the suffix is
     * looked up only when the prefix is a token. */
    uint32_t m1 = 0, m2 = 0; /* the longest length, and the longest below it */
    for (int id = 0; id < n; id++) {
        uint32_t l = b->tok_len[id];
        if (l > m1) m2 = m1, m1 = l;
        else if (l < m1 && l > m2) m2 = l;
    }
    size_t npairs = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && pairs_alloc(b, npairs, err) != 0) goto fail;
        for (int id = 0; id < n; id++) {
            const uint8_t *s = b->blob + b->tok_off[id];
            uint32_t l = b->tok_len[id], cap = l == m1 ? m2 : m1;
            if (cap > l - 1) cap = l - 1; /* l >= 1: every token has a byte */
            uint32_t kmin = l - cap > 1 ? l - cap : 1, kmax = cap;
            if (kmin > kmax) continue;
            if (pass == 0) {
                npairs += kmax - kmin + 1;
                continue;
            }
            uint64_t h = fnv1a64(s, kmin - 1, FNV1A64_INIT);
            for (uint32_t k = kmin; k <= kmax; k++) {
                h = fnv1a64(s + k - 1, 1, h); /* the hash of s[0..k) */
                int a = vmap_slot(b, s, k, h)->id;
                if (a < 0) continue;
                int c = vocab_lookup(b, s + k, l - k);
                if (c >= 0) pair_insert(b, a, c, id, id);
            }
        }
    }
    b->whole_piece_lookup = 1;
    free(text);
    free(tmp.v);
    *out = b;
    return 0;
fail:
    free(text);
    free(tmp.v);
    bpe_free(b);
    return -1;
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct heap_entry {
    int32_t rank, pos, left, right;
} heap_entry_t;

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len, tok_off, tok_len;
} cache_entry_t;

#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_PIECE 256
#define CACHE_MAX_KEY_BYTES (8u << 20)

struct bpe_cache {
    int32_t *ids, *nxt, *prv;
    size_t cap;
    heap_entry_t *heap;
    size_t heap_cap;
    byte_buf_t clean;
    cache_entry_t *slots; /* key_len == 0: empty */
    size_t used;
    byte_buf_t keys;
    tok_buf_t toks;
};

bpe_cache_t *bpe_cache_new(void) {
    bpe_cache_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void bpe_cache_free(bpe_cache_t *c) {
    if (!c) return;
    free(c->ids);
    free(c->nxt);
    free(c->prv);
    free(c->heap);
    free(c->clean.v);
    free(c->slots);
    free(c->keys.v);
    free(c->toks.v);
    free(c);
}

static inline int heap_less(const heap_entry_t *a, const heap_entry_t *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_entry_t *h, size_t *n, heap_entry_t e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_entry_t heap_pop(heap_entry_t *h, size_t *n) {
    heap_entry_t top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const heap_entry_t *best = &last;
        if (l < m && heap_less(&h[l], best)) s = l, best = &h[l];
        if (r < m && heap_less(&h[r], best)) s = r;
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (m) h[i] = last;
    return top;
}

static void push_pair(const bpe_t *b, bpe_cache_t *c, size_t *hn, int32_t pos) {
    int32_t r = c->nxt[pos];
    if (r < 0) return;
    const pair_entry_t *e = pair_lookup(b, c->ids[pos], c->ids[r]);
    if (e) heap_push(c->heap, hn, (heap_entry_t){e->rank, pos, c->ids[pos], c->ids[r]});
}

/* BPE of one piece p[0..n): parts start as single bytes; the lowest-ranked
 * adjacent pair (leftmost on ties) merges until no pair has a rank. */
static int merge_piece(const bpe_t *b, bpe_cache_t *c, const uint8_t *p, size_t n, tok_buf_t *out) {
    if (n > INT32_MAX) return -1;
    if (n > c->cap) {
        size_t cap = n < 256 ? 256 : n;
        int32_t *ids = realloc(c->ids, cap * sizeof *ids);
        if (ids) c->ids = ids;
        int32_t *nxt = realloc(c->nxt, cap * sizeof *nxt);
        if (nxt) c->nxt = nxt;
        int32_t *prv = realloc(c->prv, cap * sizeof *prv);
        if (prv) c->prv = prv;
        heap_entry_t *heap = realloc(c->heap, 3 * cap * sizeof *heap);
        if (heap) c->heap = heap;
        if (!ids || !nxt || !prv || !heap) return -1;
        c->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        c->ids[i] = b->byte_id[p[i]];
        c->nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        c->prv[i] = (int32_t)i - 1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, c, &hn, (int32_t)i);
    while (hn) {
        heap_entry_t e = heap_pop(c->heap, &hn);
        int32_t r = c->nxt[e.pos];
        /* stale entry: a part only grows, so equal ids mean the same spans */
        if (c->ids[e.pos] != e.left || r < 0 || c->ids[r] != e.right) continue;
        c->ids[e.pos] = pair_lookup(b, e.left, e.right)->result;
        c->ids[r] = -1;
        c->nxt[e.pos] = c->nxt[r];
        if (c->nxt[r] >= 0) c->prv[c->nxt[r]] = e.pos;
        if (c->prv[e.pos] >= 0) push_pair(b, c, &hn, c->prv[e.pos]);
        push_pair(b, c, &hn, e.pos);
    }
    for (int32_t i = 0; i >= 0; i = c->nxt[i])
        if (tok_buf_push(out, c->ids[i]) != 0) return -1;
    return 0;
}

static void cache_clear(bpe_cache_t *c) {
    memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots);
    c->used = 0;
    c->keys.n = 0;
    c->toks.n = 0;
}

static int encode_piece(const bpe_t *b, bpe_cache_t *c, const uint8_t *p, size_t n, tok_buf_t *out) {
    if (n == 1) return tok_buf_push(out, b->byte_id[p[0]]);
    if (b->whole_piece_lookup) {
        int id = vocab_lookup(b, p, n);
        if (id >= 0) return tok_buf_push(out, id);
    }
    if (n > CACHE_MAX_PIECE) return merge_piece(b, c, p, n, out);
    uint64_t h = fnv1a64(p, n, FNV1A64_INIT);
    size_t i = (size_t)h & (CACHE_SLOTS - 1);
    for (;;) {
        cache_entry_t *e = &c->slots[i];
        if (e->key_len == 0) break;
        if (e->hash == h && e->key_len == n && memcmp(c->keys.v + e->key_off, p, n) == 0)
            return tok_buf_append(out, c->toks.v + e->tok_off, e->tok_len);
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    size_t start = out->n;
    if (merge_piece(b, c, p, n, out) != 0) return -1;
    if (c->used >= CACHE_SLOTS / 2 || c->keys.n + n > CACHE_MAX_KEY_BYTES) {
        cache_clear(c);
        i = (size_t)h & (CACHE_SLOTS - 1);
    }
    size_t nt = out->n - start;
    if (byte_buf_append(&c->keys, p, n) != 0 || tok_buf_append(&c->toks, out->v + start, nt) != 0) {
        cache_clear(c); /* memory is short: forget the cache, the tokens are already out */
        return 0;
    }
    c->slots[i] = (cache_entry_t){h, (uint32_t)(c->keys.n - n), (uint32_t)n, (uint32_t)(c->toks.n - nt), (uint32_t)nt};
    c->used++;
    return 0;
}

enum { CL_OTHER, CL_LETTER, CL_NUMBER, CL_SPACE };

static int classify(uint32_t cp) {
    if (cp < 128) {
        if ((cp | 32) - 'a' < 26) return CL_LETTER;
        if (cp - '0' < 10) return CL_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return CL_SPACE;
        return CL_OTHER;
    }
    if (unicode_is_white_space(cp)) return CL_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CL_NUMBER;
    default:
        return CL_OTHER;
    }
}

/* The code point at s[i] of valid UTF-8; *next is where the following one starts. */
static inline uint32_t cp_at(const uint8_t *s, size_t n, size_t i, size_t *next) {
    if (s[i] < 0x80) {
        *next = i + 1;
        return s[i];
    }
    size_t adv;
    uint32_t cp = utf8_decode(s + i, n - i, &adv);
    *next = i + adv;
    return cp;
}

/* End of the GPT-2 pre-token starting at s[i] (s is valid UTF-8, i < n). */
static size_t pretoken_end(const uint8_t *s, size_t n, size_t i) {
    size_t j;
    uint32_t c0 = cp_at(s, n, i, &j);
    if (c0 == '\'' && j < n) { /* 's 't 'm 'd 'll 've 're */
        uint8_t a = s[j];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return j + 1;
        if (j + 1 < n) {
            uint8_t z = s[j + 1];
            if ((a == 'l' && z == 'l') || (a == 'v' && z == 'e') || (a == 'r' && z == 'e')) return j + 2;
        }
    }
    int k = classify(c0);
    size_t run = j; /* where the run of class k continues from */
    if (c0 == ' ' && j < n) { /* " ?" before a letter, number or other run */
        size_t j2;
        int k1 = classify(cp_at(s, n, j, &j2));
        if (k1 != CL_SPACE) k = k1, run = j2;
    }
    if (k != CL_SPACE) {
        while (run < n) {
            size_t nx;
            if (classify(cp_at(s, n, run, &nx)) != k) break;
            run = nx;
        }
        return run;
    }
    /* whitespace: \s+(?!\S) keeps the last space for the next token when a
     * non-space follows, else \s+ */
    size_t last = i, e = j;
    int count = 1;
    while (e < n) {
        size_t nx;
        if (classify(cp_at(s, n, e, &nx)) != CL_SPACE) break;
        last = e, e = nx, count++;
    }
    if (e == n) return n;
    return count >= 2 ? last : j;
}

int bpe_encode(const bpe_t *b, bpe_cache_t *c, const char *text, size_t len, tok_buf_t *out, err_t *err) {
    const uint8_t *s = (const uint8_t *)text;
    if (utf8_valid_prefix(s, len) != len) {
        c->clean.n = 0;
        if (utf8_sanitize(s, len, &c->clean) != 0) return err_set(err, "out of memory encoding %zu bytes", len);
        s = c->clean.v;
        len = c->clean.n;
    }
    size_t i = 0;
    while (i < len) {
        size_t e = pretoken_end(s, len, i);
        if (encode_piece(b, c, s + i, e - i, out) != 0) return err_set(err, "out of memory encoding %zu bytes", len);
        i = e;
    }
    return 0;
}

int bpe_decode(const bpe_t *b, const int32_t *ids, size_t n, byte_buf_t *out, err_t *err) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->n_ids)
            return err_set(err, "token id %d at position %zu is outside the vocabulary (0..%d)", ids[i], i, b->n_ids - 1);
        if (byte_buf_append(out, b->blob + b->tok_off[ids[i]], b->tok_len[ids[i]]) != 0)
            return err_set(err, "out of memory decoding %zu tokens", n);
    }
    return 0;
}
