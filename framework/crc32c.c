/* crc32c.c — CRC-32C, table-driven (see crc32c.h). */
#include "crc32c.h"

#include <stdatomic.h>

/* reflected polynomial 0x1EDC6F41 */
#define CRC32C_POLY 0x82F63B78u

static uint32_t table_entry(uint32_t i) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? CRC32C_POLY ^ (c >> 1) : c >> 1;
    return c;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
    /* filled on first use; a concurrent first use writes the same values */
    static uint32_t table[256];
    static atomic_int ready = 0;
    if (!atomic_load_explicit(&ready, memory_order_acquire)) {
        for (uint32_t i = 0; i < 256; i++) table[i] = table_entry(i);
        atomic_store_explicit(&ready, 1, memory_order_release);
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
