/* utf8.c — UTF-8 decoding with replacement, White_Space (see utf8.h). */
#include "utf8.h"

uint32_t utf8_decode(const uint8_t *s, size_t n, size_t *adv) {
    uint8_t b = s[0];
    if (b < 0x80) {
        *adv = 1;
        return b;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1, cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2, cp = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3, cp = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        *adv = 1; /* 80..C1, F5..FF never start a sequence */
        return UTF8_REPLACEMENT;
    }
    size_t i = 1;
    for (int k = 0; k < need; k++, i++) {
        if (i >= n) break;
        uint8_t c = s[i];
        uint8_t l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
        if (c < l || c > h) break;
        cp = cp << 6 | (c & 0x3F);
        if (k == need - 1) {
            *adv = i + 1;
            return cp;
        }
    }
    *adv = i; /* the maximal subpart: the lead byte and the continuation bytes that fit */
    return UTF8_REPLACEMENT;
}

int utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t adv;
        uint32_t cp = utf8_decode(s + i, n - i, &adv);
        if (cp == UTF8_REPLACEMENT && !(adv == 3 && s[i] == 0xEF && s[i + 1] == 0xBF && s[i + 2] == 0xBD))
            return i;
        i += adv;
    }
    return n;
}

int utf8_sanitize(const uint8_t *s, size_t n, byte_buf_t *out) {
    size_t i = 0;
    while (i < n) {
        size_t good = i + utf8_valid_prefix(s + i, n - i);
        if (byte_buf_append(out, s + i, good - i) != 0) return -1;
        if (good == n) break;
        size_t adv;
        utf8_decode(s + good, n - good, &adv);
        static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
        if (byte_buf_append(out, fffd, 3) != 0) return -1;
        i = good + adv;
    }
    return 0;
}

int unicode_is_white_space(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
