/* tensorboard.h — TensorBoard event files written natively (no TensorFlow).
 *
 * A file `events.out.tfevents.<time>.<host>.<pid>` in the run directory holds
 * TFRecords: each record is its length (uint64, little-endian), the masked
 * CRC-32C of those 8 bytes, the bytes of one serialized `Event` protobuf and
 * their masked CRC-32C. The first event carries file_version "brain.Event:2";
 * each scalar is an Event{wall_time, step, summary{value{tag, simple_value}}},
 * what TensorBoard's scalar dashboard (and torch's SummaryWriter.add_scalar,
 * Megatron's writer) produce. */
#ifndef MEGAC_TENSORBOARD_H
#define MEGAC_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tb_writer tb_writer_t;

/* Creates dir (and its parents) when missing and a new event file in it,
 * starting with the file-version event. */
int tb_writer_open(tb_writer_t **w, const char *dir, err_t *err);
/* Appends one scalar (stored as a float, as simple_value is) at `step`. */
int tb_add_scalar(tb_writer_t *w, const char *tag, int64_t step, double value, err_t *err);
/* Pushes buffered events to the file (TensorBoard reads a file while it grows). */
int tb_writer_flush(tb_writer_t *w, err_t *err);
/* Flushes, closes and frees; w may be NULL. A failed write is reported here too. */
int tb_writer_close(tb_writer_t *w, err_t *err);
/* The event file's path. */
const char *tb_writer_path(const tb_writer_t *w);

/* The encoding, exposed for tests. */
/* protobuf base-128 varint of v into out (10 bytes suffice); returns its length */
size_t tb_varint(uint64_t v, uint8_t *out);
/* TFRecord's masked CRC-32C: ((c >> 15) | (c << 17)) + 0xa282ead8 */
uint32_t tb_masked_crc32c(const void *data, size_t n);
/* A serialized Event: wall_time, step, and either file_version (tag NULL) or
 * one scalar summary value. Returns its length, or 0 when it needs more than cap
 * bytes (a tag over 1,000 bytes is refused). */
size_t tb_encode_event(uint8_t *out, size_t cap, double wall_time, int64_t step, const char *file_version,
                       const char *tag, float value);

#endif
