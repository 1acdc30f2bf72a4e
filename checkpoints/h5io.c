/* h5io.c — HDF5 files, attributes and checksummed float32 tensors (see h5io.h). */
#include "h5io.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void h5io_init(void) {
    static int done = 0;
    if (done) return;
    /* No library shutdown at exit: every file megac writes is closed explicitly,
     * and a file whose close failed (a full disk) made libhdf5's atexit close
     * callback crash (SIGSEGV in H5F__close_cb) after the error was reported.
     * Effective only before the library's first use, which this call is. */
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
}

typedef struct walk_buf {
    char *buf;
    size_t len;
    int taken;
} walk_buf_t;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    walk_buf_t *w = data;
    (void)n;
    if (w->taken || !e->desc || !e->desc[0]) return 0;
    snprintf(w->buf, w->len, "%s", e->desc);
    w->taken = 1;
    return 0;
}

void h5io_error_text(char *buf, size_t len) {
    if (len == 0) return;
    buf[0] = 0;
    walk_buf_t w = {buf, len, 0};
    /* upward: the innermost (most specific) error first */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    for (char *p = buf; *p; p++) /* one line: HDF5's I/O messages carry newlines */
        if ((unsigned char)*p < 0x20) *p = ' ';
}

/* "where: what (HDF5: innermost message)"; corrupted data gets a plain name */
static int h5fail(err_t *err, const char *where, const char *what) {
    char h[240];
    h5io_error_text(h, sizeof h);
    const char *kind = "";
    if (strstr(h, "letcher32") || strstr(h, "checksum")) kind = "checksum mismatch (file corrupted): ";
    else if (strstr(h, "truncated file")) kind = "file truncated: ";
    if (h[0]) return err_set(err, "%s: %s%s (HDF5: %s)", where, kind, what, h);
    return err_set(err, "%s: %s", where, what);
}

/* ---------------------------------------------------------------- Fletcher32 */

static inline uint32_t fold16(uint32_t s) { return (s & 0xffffu) + (s >> 16); }

/* Sums over one block of t <= 360 big-endian 16-bit words at p:
 * a = sum w_i, b = sum (t - i) w_i (mod 2^32, as HDF5's sequential loop); copies
 * the block to dst when dst is non-NULL. */
static void block_sums(const uint8_t *p, uint8_t *dst, uint32_t t, uint32_t *pa, uint32_t *pb) {
    uint32_t a = 0, b = 0, i = 0;
#if defined(__SSE2__)
    uint32_t J = t / 8;
    if (J > 0) {
        const __m128i z = _mm_setzero_si128();
        __m128i al = z, ah = z, bl = z, bh = z;
        for (uint32_t j = 0; j < J; j++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * j));
            if (dst) _mm_storeu_si128((__m128i *)(void *)(dst + 16 * j), v);
            v = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8)); /* big-endian words */
            al = _mm_add_epi32(al, _mm_unpacklo_epi16(v, z));               /* words 0..3 */
            ah = _mm_add_epi32(ah, _mm_unpackhi_epi16(v, z));               /* words 4..7 */
            bl = _mm_add_epi32(bl, al);
            bh = _mm_add_epi32(bh, ah);
        }
        uint32_t A[8], B[8];
        _mm_storeu_si128((__m128i *)(void *)A, al);
        _mm_storeu_si128((__m128i *)(void *)(A + 4), ah);
        _mm_storeu_si128((__m128i *)(void *)B, bl);
        _mm_storeu_si128((__m128i *)(void *)(B + 4), bh);
        /* word 8j+l has weight 8(J-j) - l within the first 8J words */
        for (uint32_t l = 0; l < 8; l++) {
            a += A[l];
            b += 8u * B[l] - l * A[l];
        }
        i = 8 * J;
        b += (t - i) * a;
    }
#endif
    for (; i < t; i++) {
        if (dst) dst[2 * i] = p[2 * i], dst[2 * i + 1] = p[2 * i + 1];
        uint32_t w = ((uint32_t)p[2 * i] << 8) | p[2 * i + 1];
        a += w;
        b += (t - i) * w;
    }
    *pa = a, *pb = b;
}

/* HDF5's H5_checksum_fletcher32: per 360-word block sum1 += w, sum2 += sum1,
 * then both folded to 16 bits; written here block-wise (identical results). */
static uint32_t fletcher(const uint8_t *p, uint8_t *dst, size_t nbytes) {
    size_t len = nbytes / 2;
    uint32_t s1 = 0, s2 = 0;
    while (len) {
        uint32_t t = len > 360 ? 360 : (uint32_t)len, a, b;
        len -= t;
        block_sums(p, dst, t, &a, &b);
        s2 += t * s1 + b;
        s1 += a;
        p += 2 * (size_t)t;
        if (dst) dst += 2 * (size_t)t;
        s1 = fold16(s1), s2 = fold16(s2);
    }
    if (nbytes % 2) {
        if (dst) *dst = *p;
        s1 += (uint32_t)*p << 8;
        s2 += s1;
        s1 = fold16(s1), s2 = fold16(s2);
    }
    s1 = fold16(s1), s2 = fold16(s2);
    return (s2 << 16) | s1;
}

uint32_t h5io_fletcher32(const void *data, size_t nbytes) { return fletcher(data, NULL, nbytes); }
uint32_t h5io_fletcher32_copy(void *dst, const void *data, size_t nbytes) { return fletcher(data, dst, nbytes); }

void h5io_stage_free(h5io_stage_t *s) {
    free(s->buf);
    s->buf = NULL, s->cap = 0;
}

/* ---------------------------------------------------------------- files */

static hid_t file_access(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    /* the 1.10 format: checksummed object headers, chunk indexes and superblock */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    /* one writer per file by construction; flock fails on some cluster filesystems */
    H5Pset_file_locking(fapl, 0, 1);
#endif
    return fapl;
}

hid_t h5io_create(const char *path, err_t *err) {
    h5io_init();
    hid_t fapl = file_access();
    hid_t f = fapl < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) h5fail(err, path, "cannot create the HDF5 file");
    if (fapl >= 0) H5Pclose(fapl);
    return f;
}

hid_t h5io_open(const char *path, err_t *err) {
    h5io_init();
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, "%s: missing", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, "%s: not a regular file", path);
        return -1;
    }
    hid_t fapl = file_access();
    hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) h5fail(err, path, "cannot open as HDF5");
    if (fapl >= 0) H5Pclose(fapl);
    return f;
}

int h5io_close(hid_t file, const char *path, err_t *err) {
    if (file < 0) return 0;
    if (H5Fclose(file) < 0) return h5fail(err, path, "closing the file failed");
    return 0;
}

/* ---------------------------------------------------------------- attributes */

static int attr_put(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int n, const void *v,
                    const char *where, err_t *err) {
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t a = space < 0 ? -1 : H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, mtype, v) < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot write attribute %s", name);
        rc = h5fail(err, where, what);
    }
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* A fixed-length string: its bytes lie inside the attribute message, which the
 * object header's checksum covers. (A variable-length string lives in the global
 * heap, which has no checksum: one flipped byte there crashed or hung libhdf5's
 * H5Aread. Files written before this change hold such strings; they still load.) */
int h5io_attr_put_str(hid_t obj, const char *name, const char *value, const char *where, err_t *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return h5fail(err, where, "cannot make a string type");
    H5Tset_size(t, strlen(value) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_put(obj, name, t, t, -1, value, where, err);
    H5Tclose(t);
    return rc;
}

int h5io_attr_put_i64(hid_t obj, const char *name, const int64_t *v, int n, const char *where, err_t *err) {
    return attr_put(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v, where, err);
}

int h5io_attr_put_i32(hid_t obj, const char *name, int v, const char *where, err_t *err) {
    return attr_put(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, -1, &v, where, err);
}

int h5io_attr_put_u32(hid_t obj, const char *name, uint32_t v, const char *where, err_t *err) {
    return attr_put(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, -1, &v, where, err);
}

int h5io_attr_exists(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

static hid_t attr_open(hid_t obj, const char *name, hssize_t *npoints, const char *where, err_t *err) {
    if (H5Aexists(obj, name) <= 0) {
        err_set(err, "%s: attribute %s is missing", where, name);
        return -1;
    }
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) {
        char what[160];
        snprintf(what, sizeof what, "cannot open attribute %s", name);
        h5fail(err, where, what);
        return -1;
    }
    hid_t s = H5Aget_space(a);
    *npoints = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    if (s >= 0) H5Sclose(s);
    return a;
}

#define ATTR_STR_MAX (16u << 20)

int h5io_attr_get_str(hid_t obj, const char *name, char **out, size_t *len, const char *where, err_t *err) {
    *out = NULL;
    hssize_t np;
    hid_t a = attr_open(obj, name, &np, where, err);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = -1;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || np != 1) {
        err_set(err, "%s: attribute %s is not a single string", where, name);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0) {
            h5fail(err, where, "cannot read a string attribute");
        } else if (!s) {
            err_set(err, "%s: attribute %s is a null string", where, name);
        } else {
            size_t n = strnlen(s, ATTR_STR_MAX);
            if (n >= ATTR_STR_MAX) err_set(err, "%s: attribute %s is longer than %u bytes", where, name, ATTR_STR_MAX);
            else if (!(*out = malloc(n + 1))) err_set(err, "%s: out of memory reading attribute %s", where, name);
            else memcpy(*out, s, n + 1), *len = n, rc = 0;
        }
        if (s) H5free_memory(s);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        if (sz == 0 || sz >= ATTR_STR_MAX) {
            err_set(err, "%s: attribute %s has a bad string size %zu", where, name, sz);
        } else if (!(*out = calloc(sz + 1, 1))) {
            err_set(err, "%s: out of memory reading attribute %s", where, name);
        } else {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz);
            H5Tset_cset(mt, H5Tget_cset(ft));
            if (H5Aread(a, mt, *out) < 0) {
                h5fail(err, where, "cannot read a string attribute");
                free(*out), *out = NULL;
            } else {
                *len = strlen(*out);
                rc = 0;
            }
            H5Tclose(mt);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

int h5io_attr_get_i64(hid_t obj, const char *name, int64_t *v, int n, const char *where, err_t *err) {
    hssize_t np;
    hid_t a = attr_open(obj, name, &np, where, err);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = -1;
    if (ft < 0 || H5Tget_class(ft) != H5T_INTEGER) err_set(err, "%s: attribute %s is not an integer", where, name);
    else if (np != n) err_set(err, "%s: attribute %s holds %lld values, expected %d", where, name, (long long)np, n);
    else if (H5Aread(a, H5T_NATIVE_INT64, v) < 0) h5fail(err, where, "cannot read an integer attribute");
    else rc = 0;
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* ---------------------------------------------------------------- tensors */

void h5io_chunk_shape(int ndim, const int64_t *shape, int64_t *chunk) {
    int64_t inner = 1;
    int d = ndim - 1;
    for (; d >= 0; d--) {
        if (shape[d] > H5IO_CHUNK_ELEMS / inner) break;
        chunk[d] = shape[d];
        inner *= shape[d];
    }
    if (d >= 0) { /* dimension d is cut; those before it are taken one index at a time */
        int64_t c = H5IO_CHUNK_ELEMS / inner;
        chunk[d] = c < shape[d] ? c : shape[d];
        for (int e = d - 1; e >= 0; e--) chunk[e] = 1;
    }
}

/* the dimension h5io_chunk_shape cuts: the innermost whose chunk is not whole
 * (those after it are whole, those before it taken one index at a time) */
static int cut_dim(int ndim, const int64_t *shape, const int64_t *chunk) {
    for (int d = ndim - 1; d >= 0; d--)
        if (chunk[d] != shape[d]) return d;
    return 0;
}

static int host_is_le_float(void) { return H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0; }

/* The chunks of a tensor in file order: chunk i covers, for outer index
 * i / nk, elements [c, c + chunk) of the cut dimension (c = (i % nk) * chunk),
 * which is one contiguous run of `valid` source bytes starting at `src`. */
typedef struct chunk_walk {
    const float *data;
    const int64_t *shape;
    int ndim, k;
    int64_t chunk, inner, nk, count;
    size_t cbytes; /* bytes of a whole chunk */
} chunk_walk_t;

static const float *chunk_at(const chunk_walk_t *w, int64_t i, hsize_t *coff, size_t *valid) {
    int64_t o = i / w->nk, c = (i % w->nk) * w->chunk;
    int64_t rem = o;
    for (int e = 0; e < w->ndim; e++) coff[e] = 0;
    for (int e = w->k - 1; e >= 0; e--) coff[e] = (hsize_t)(rem % w->shape[e]), rem /= w->shape[e];
    coff[w->k] = (hsize_t)c;
    int64_t rows = w->shape[w->k] - c < w->chunk ? w->shape[w->k] - c : w->chunk;
    *valid = (size_t)(rows * w->inner) * sizeof(float);
    return w->data + (o * w->shape[w->k] + c) * w->inner;
}

/* Fills buf with chunk i and its checksum (the filter's output bytes) and coff
 * with the chunk's coordinates. */
static void fill_chunk(const chunk_walk_t *w, int64_t i, backend_t *be, unsigned char *buf, hsize_t *coff) {
    size_t valid;
    const float *src = chunk_at(w, i, coff, &valid);
    uint32_t sum;
    if (be->device == DEVICE_CPU && valid == w->cbytes) {
        sum = h5io_fletcher32_copy(buf, src, w->cbytes);
    } else {
        if (be->device == DEVICE_CPU) memcpy(buf, src, valid);
        else be->copy_to_host(be, buf, src, valid);
        /* an edge chunk is stored whole; the part past the dataset is zero */
        memset(buf + valid, 0, w->cbytes - valid);
        sum = h5io_fletcher32(buf, w->cbytes);
    }
    /* the filter appends the checksum little-endian */
    buf[w->cbytes] = (unsigned char)sum, buf[w->cbytes + 1] = (unsigned char)(sum >> 8);
    buf[w->cbytes + 2] = (unsigned char)(sum >> 16), buf[w->cbytes + 3] = (unsigned char)(sum >> 24);
}

static int write_chunks(hid_t dset, const chunk_walk_t *w, backend_t *be, h5io_stage_t *stage) {
    size_t slot = w->cbytes + 4;
    if (stage->cap < slot) {
        unsigned char *nb = realloc(stage->buf, slot);
        if (!nb) return -2;
        stage->buf = nb, stage->cap = slot;
    }
    for (int64_t i = 0; i < w->count; i++) {
        hsize_t coff[4];
        fill_chunk(w, i, be, stage->buf, coff);
        if (H5Dwrite_chunk(dset, H5P_DEFAULT, 0, coff, slot, stage->buf) < 0) return -1;
    }
    return 0;
}

hid_t h5io_write_tensor(hid_t file, const char *path, int ndim, const int64_t *shape, const float *data,
                        backend_t *be, h5io_stage_t *stage, const char *where, err_t *err) {
    if (ndim < 1 || ndim > 4) return err_set(err, "%s: %s: %d dimensions (1 to 4 supported)", where, path, ndim);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0) return err_set(err, "%s: %s: empty dimension %d", where, path, d);
    if (!host_is_le_float()) return err_set(err, "%s: writing checkpoints needs a little-endian host", where);
    int64_t chunk[4];
    h5io_chunk_shape(ndim, shape, chunk);
    chunk_walk_t w = {.data = data, .shape = shape, .ndim = ndim, .k = cut_dim(ndim, shape, chunk), .inner = 1};
    int64_t outer = 1;
    for (int d = w.k + 1; d < ndim; d++) w.inner *= shape[d];
    for (int d = 0; d < w.k; d++) outer *= shape[d];
    w.chunk = chunk[w.k];
    w.nk = (shape[w.k] + w.chunk - 1) / w.chunk;
    w.count = outer * w.nk;
    w.cbytes = (size_t)(w.chunk * w.inner) * sizeof(float);
    hsize_t dims[4], cdims[4];
    for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)shape[d], cdims[d] = (hsize_t)chunk[d];
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t dset = -1;
    char what[200];
    if (space < 0 || dcpl < 0 || lcpl < 0 || H5Pset_chunk(dcpl, ndim, cdims) < 0 || H5Pset_fletcher32(dcpl) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        snprintf(what, sizeof what, "cannot set up dataset %s", path);
        h5fail(err, where, what);
        goto fail;
    }
    dset = H5Dcreate2(file, path, H5T_IEEE_F32LE, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0) {
        snprintf(what, sizeof what, "cannot create dataset %s", path);
        h5fail(err, where, what);
        goto fail;
    }
    int rc = write_chunks(dset, &w, be, stage);
    if (rc == -2) {
        err_set(err, "%s: out of memory for the chunk buffers of %s", where, path);
        goto fail;
    }
    if (rc != 0) {
        snprintf(what, sizeof what, "writing dataset %s failed", path);
        h5fail(err, where, what);
        goto fail;
    }
    H5Pclose(lcpl), H5Pclose(dcpl), H5Sclose(space);
    return dset;
fail:
    if (dset >= 0) H5Dclose(dset);
    if (lcpl >= 0) H5Pclose(lcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return -1;
}

int h5io_check_dataset(hid_t dset, int *ndim, int64_t *shape, const char *where, err_t *err) {
    hid_t t = H5Dget_type(dset), s = H5Dget_space(dset), p = H5Dget_create_plist(dset);
    int rc = -1;
    if (t < 0 || s < 0 || p < 0) {
        h5fail(err, where, "cannot read the dataset's type, shape or layout");
        goto out;
    }
    if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 4 || H5Tget_order(t) != H5T_ORDER_LE) {
        err_set(err, "%s: not little-endian float32 data", where);
        goto out;
    }
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd < 1 || nd > 4) {
        err_set(err, "%s: %d dimensions (1 to 4 expected)", where, nd);
        goto out;
    }
    hsize_t dims[4];
    H5Sget_simple_extent_dims(s, dims, NULL);
    for (int d = 0; d < nd; d++) {
        if (dims[d] == 0 || dims[d] > ((hsize_t)1 << 40)) {
            err_set(err, "%s: dimension %d has size %llu", where, d, (unsigned long long)dims[d]);
            goto out;
        }
        shape[d] = (int64_t)dims[d];
    }
    *ndim = nd;
    unsigned flags;
    if (H5Pget_layout(p) != H5D_CHUNKED ||
        H5Pget_filter_by_id2(p, H5Z_FILTER_FLETCHER32, &flags, NULL, NULL, 0, NULL, NULL) < 0) {
        H5Eclear2(H5E_DEFAULT);
        err_set(err, "%s: not chunked with the Fletcher32 checksum filter", where);
        goto out;
    }
    rc = 0;
out:
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (p >= 0) H5Pclose(p);
    return rc;
}

int h5io_read_box(hid_t dset, int ndim, const int64_t *file_off, const int64_t *count,
                  const int64_t *mem_shape, const int64_t *mem_off, float *dst, const char *where,
                  err_t *err) {
    hsize_t fo[4], cnt[4], md[4], mo[4];
    for (int d = 0; d < ndim; d++) {
        fo[d] = (hsize_t)file_off[d], cnt[d] = (hsize_t)count[d];
        md[d] = (hsize_t)mem_shape[d], mo[d] = (hsize_t)mem_off[d];
    }
    hid_t fs = H5Dget_space(dset);
    hid_t ms = H5Screate_simple(ndim, md, NULL);
    int rc = 0;
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, fo, NULL, cnt, NULL) < 0 ||
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, mo, NULL, cnt, NULL) < 0 ||
        H5Dread(dset, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, dst) < 0)
        rc = h5fail(err, where, "reading failed");
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    return rc;
}

int h5io_verify_dataset(hid_t dset, h5io_stage_t *stage, int64_t *bytes, const char *where, err_t *err) {
    int ndim;
    int64_t shape[4], chunk[4];
    if (h5io_check_dataset(dset, &ndim, shape, where, err) != 0) return -1;
    hid_t p = H5Dget_create_plist(dset);
    hsize_t cd[4];
    int cn = p < 0 ? -1 : H5Pget_chunk(p, 4, cd);
    if (p >= 0) H5Pclose(p);
    if (cn != ndim) return h5fail(err, where, "cannot read the chunk shape");
    size_t celems = 1;
    for (int d = 0; d < ndim; d++) {
        chunk[d] = (int64_t)cd[d];
        if (chunk[d] <= 0 || chunk[d] > shape[d] || celems > (size_t)1 << 30) return err_set(err, "%s: bad chunk shape", where);
        celems *= (size_t)chunk[d];
    }
    if (celems > (size_t)1 << 30) return err_set(err, "%s: chunks of %zu elements are too large", where, celems);
    if (stage->cap < celems * sizeof(float)) {
        unsigned char *nb = realloc(stage->buf, celems * sizeof(float));
        if (!nb) return err_set(err, "%s: out of memory for a chunk", where);
        stage->buf = nb, stage->cap = celems * sizeof(float);
    }
    /* visit the chunk grid in row-major order, one chunk (clipped) per read */
    int64_t idx[4] = {0, 0, 0, 0}, zero[4] = {0, 0, 0, 0};
    for (;;) {
        int64_t off[4], cnt[4];
        for (int d = 0; d < ndim; d++) {
            off[d] = idx[d] * chunk[d];
            cnt[d] = shape[d] - off[d] < chunk[d] ? shape[d] - off[d] : chunk[d];
        }
        if (h5io_read_box(dset, ndim, off, cnt, cnt, zero, (float *)(void *)stage->buf, where, err) != 0) return -1;
        int64_t n = 1;
        for (int d = 0; d < ndim; d++) n *= cnt[d];
        *bytes += n * (int64_t)sizeof(float);
        int d = ndim - 1;
        while (d >= 0 && ++idx[d] * chunk[d] >= shape[d]) idx[d] = 0, d--;
        if (d < 0) break;
    }
    return 0;
}

int h5io_chunk_info(hid_t dset, int64_t *nchunks, uint64_t *addr0, uint64_t *size0) {
    hid_t fs = H5Dget_space(dset);
    hsize_t n = 0, off[4], size = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    int rc = fs >= 0 && H5Dget_num_chunks(dset, fs, &n) >= 0 &&
                     (n == 0 || H5Dget_chunk_info(dset, fs, 0, off, &mask, &addr, &size) >= 0)
                 ? 0
                 : -1;
    if (fs >= 0) H5Sclose(fs);
    *nchunks = (int64_t)n, *addr0 = (uint64_t)addr, *size0 = (uint64_t)size;
    return rc;
}
