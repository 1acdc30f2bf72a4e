/* crc32c.h — CRC-32C (Castagnoli), the checksum of checkpoint metadata records
 * and of TensorBoard's TFRecord framing. */
#ifndef MEGAC_CRC32C_H
#define MEGAC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of n bytes (crc32c(0, "123456789", 9) == 0xE3069283); crc chains
 * calls: crc32c(crc32c(0, a, na), b, nb) == the CRC of a then b. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

#endif
