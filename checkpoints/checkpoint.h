/* checkpoint.h — megac's sharded HDF5 checkpoints: the directory layout, the
 * atomic multi-rank save, loading under any (TP, DP) layout, and verification.
 *
 * Layout of a checkpoint root DIR (Megatron-LM's, with HDF5 files):
 *
 *   DIR/latest_checkpointed_iteration.txt   "100\n": the committed iteration
 *   DIR/iter_0000100/mp_rank_00.h5          TP rank 0's parameter shards (written
 *                                           by its DP rank 0), plus the Adam
 *                                           moments of its shards without ZeRO-1
 *   DIR/iter_0000100/mp_rank_01.h5          ... one file per TP rank
 *   DIR/iter_0000100/mp_rank_00_dp_000_optim.h5
 *                                           ZeRO-1: the moments rank (TP 0, DP 0)
 *                                           owns; one file per rank
 *
 * Every file holds the metadata record (ckpt_meta.h) as root attributes. Every
 * dataset is one box of a tensor in global coordinates:
 *
 *   model/<name>                 e.g. model/layers/00/attention/qkv/weight
 *   optimizer/exp_avg/<name>     Adam first moment (fp32)
 *   optimizer/exp_avg_sq/<name>  Adam second moment (fp32)
 *   <...>/<name>.partN           a fragment, where a ZeRO-1 shard boundary cuts
 *                                through the rank's slice of a tensor
 *
 * with attributes: tensor (the name), global_shape, offset (of the box; the
 * dataset's shape is its extent), split_dim (-1: replicated), split_offset (of
 * the writing rank's slice along split_dim), pad_multiple (split_dim is padded to
 * a multiple of pad_multiple x TP; rows past global_shape are zero padding and
 * are not stored), and tp_rank/tp_size/dp_rank/dp_size of the writer. TP-
 * replicated tensors (and their moments) are stored once, by TP rank 0. A loader
 * assembles any slice of any tensor from the boxes, whatever layout wrote them.
 *
 * Commit: rank 0 creates DIR/iter_N.tmp; each writer writes and fsyncs its files;
 * all ranks agree (an all-reduce of a failure flag); rank 0 fsyncs the directory,
 * renames it to iter_N, fsyncs DIR, replaces the pointer file (write a temporary,
 * fsync, rename, fsync DIR), and only then prunes (--keep-last) and removes stale
 * temporaries. A crash at any point leaves the previous checkpoint loadable. */
#ifndef MEGAC_CHECKPOINT_H
#define MEGAC_CHECKPOINT_H

#include <stdint.h>

#include "../framework/backend.h"
#include "../framework/error.h"
#include "../framework/progress.h"
#include "../framework/tensor.h"
#include "../parallel/comm.h"
#include "ckpt_meta.h"
#include "h5io.h"

#define CKPT_LATEST "latest_checkpointed_iteration.txt"
#define CKPT_LOCK ".megac_save.lock" /* see ckpt_savedir_t */
#define CKPT_PATH_MAX 4096

typedef enum ckpt_kind {
    CKPT_MODEL = 0,
    CKPT_EXP_AVG = 1,
    CKPT_EXP_AVG_SQ = 2,
    CKPT_KINDS = 3
} ckpt_kind_t;

/* "model", "optimizer/exp_avg", "optimizer/exp_avg_sq" */
const char *ckpt_kind_group(ckpt_kind_t k);

/* A box in global coordinates. */
typedef struct ckpt_box {
    int ndim;
    int64_t off[TENSOR_MAX_DIMS], cnt[TENSOR_MAX_DIMS];
} ckpt_box_t;

int64_t ckpt_box_volume(const ckpt_box_t *b);

/* One parameter tensor as this rank holds it. */
typedef struct ckpt_param {
    const tensor_t *t;     /* name, local/global shape, split, data (backend memory) */
    int64_t real_extent;   /* extent of split_dim without padding (global_shape[split_dim] if none) */
    int64_t pad_multiple;  /* padding multiple of split_dim per TP rank (1: none; > 1 only on dim 0) */
} ckpt_param_t;

/* The stored global shape of a parameter (padding rows dropped). */
void ckpt_param_shape(const ckpt_param_t *p, int64_t *shape);

/* Adam moments over this rank's TP-local flat parameter block. */
typedef struct ckpt_optim_state {
    float *exp_avg, *exp_avg_sq; /* backend memory; element i is flat element lo + i */
    size_t lo, hi;               /* [lo, hi) of the flat block */
    const size_t *offset;        /* flat offset of each parameter tensor */
    int64_t step;
} ckpt_optim_state_t;

/* This rank's place in the job. */
typedef struct ckpt_layout {
    comm_t *world;               /* NULL: one process */
    int tp_rank, tp_size, dp_rank, dp_size;
    int zero1;                   /* Adam moments sharded over DP */
} ckpt_layout_t;

typedef struct ckpt_save_stats {
    double seconds;
    int64_t bytes, total_bytes;  /* tensor bytes this rank / all ranks wrote */
    char dir[CKPT_PATH_MAX];     /* the committed iteration directory */
} ckpt_save_stats_t;

/* A job's hold on its save directory. One job writes to a save directory at a
 * time: world rank 0, which makes every change to the directory itself (the
 * temporary, the rename, the pointer, pruning; the other ranks write only files
 * inside the temporary it made), holds an exclusive flock on root/.megac_save.lock
 * from open to close, and a second job is refused with the holder's pid and host
 * (read from the lock file). On a filesystem without flock it goes on unlocked.
 *
 * Pruning (keep_last > 0) deletes only iterations of the run's lineage, keeping
 * its newest keep_last: those this job committed and those at or below `base`
 * (the iteration the run continues from when that checkpoint lies in root; -1:
 * none). Others (newer iterations of a run this one rolled back from) are never
 * deleted. A deleted iteration is first renamed to a hidden .iter_N.trash, so a
 * kill while deleting leaves no half-deleted iter_N; trash is removed on the next
 * open or prune. A leftover iter_N.tmp is removed only when it holds nothing but
 * megac's own mp_rank_*.h5 files; otherwise the save is refused, naming it. */
typedef struct ckpt_savedir {
    char root[CKPT_PATH_MAX];
    comm_t *world;
    int lock_fd;                 /* rank 0: the held lock (-1: none) */
    int keep_last;
    int64_t base;
    int64_t *mine;               /* iterations this job committed */
    size_t nmine, cap;
} ckpt_savedir_t;

/* Collective: creates root (rank 0) and takes its lock; every rank returns the
 * same status and message. */
int ckpt_savedir_open(ckpt_savedir_t *sd, const char *root, comm_t *world, int64_t base, int keep_last, err_t *err);
/* Collective over lay->world: saves iteration meta->iteration (meta's parallel
 * fields are filled from lay). opt NULL: no optimizer state. Prunes after the
 * commit as above. Every rank returns the same status. */
int ckpt_savedir_save(ckpt_savedir_t *sd, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
                      const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, ckpt_save_stats_t *stats,
                      err_t *err);
void ckpt_savedir_close(ckpt_savedir_t *sd);
/* Whether iteration directory iter_dir lies directly in root (same directory
 * after resolving links): the run continues a lineage of root. */
int ckpt_same_root(const char *iter_dir, const char *root);

/* One save (open, save, close): the lineage is every iteration in root. */
int ckpt_save(const char *root, ckpt_meta_t *meta, const ckpt_layout_t *lay, backend_t *be,
              const ckpt_param_t *params, int nparams, const ckpt_optim_state_t *opt, int keep_last,
              ckpt_save_stats_t *stats, err_t *err);

/* ---------------------------------------------------------------- building blocks
 * (single process: the offline tools, and ckpt_save's rank-0 steps) */

typedef struct ckpt_txn {
    char root[CKPT_PATH_MAX], tmp[CKPT_PATH_MAX + 8], final[CKPT_PATH_MAX];
    int64_t iteration;
    int lock_fd;                 /* the directory's lock, held from begin to commit/abort */
    int64_t base;                /* the lineage pruning deletes from (see ckpt_savedir_t) */
    const int64_t *mine;
    size_t nmine;
} ckpt_txn_t;

/* Creates root (and parents), takes its lock (see ckpt_savedir_t) and a fresh
 * root/iter_N.tmp. */
int ckpt_txn_begin(ckpt_txn_t *tx, const char *root, int64_t iteration, err_t *err);
/* fsync, rename into place, move the pointer, prune; see the file comment. Releases the lock. */
int ckpt_txn_commit(ckpt_txn_t *tx, int keep_last, err_t *err);
/* Removes the temporary directory; releases the lock. */
void ckpt_txn_abort(ckpt_txn_t *tx);
/* Removes a directory tree (no error when it does not exist). */
int ckpt_remove(const char *path, err_t *err);

/* "iter_0000100", "mp_rank_00.h5", "mp_rank_00_dp_000_optim.h5" */
void ckpt_iter_name(int64_t iteration, char *buf, size_t len);
void ckpt_model_file_name(int tp_rank, char *buf, size_t len);
void ckpt_optim_file_name(int tp_rank, int dp_rank, char *buf, size_t len);

typedef struct ckpt_writer {
    hid_t h;
    char path[CKPT_PATH_MAX];
    h5io_stage_t stage;
    int64_t bytes;
    int tp_rank, tp_size, dp_rank, dp_size;
} ckpt_writer_t;

/* A new file dir/name with the metadata; kind is "model" or "optimizer". */
int ckpt_writer_open(ckpt_writer_t *w, const char *dir, const char *name, const ckpt_meta_t *meta,
                     const char *kind, int tp_rank, int dp_rank, err_t *err);

/* One stored box of a tensor. */
typedef struct ckpt_piece_desc {
    const char *tensor;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS]; /* stored global shape */
    ckpt_box_t box;
    int split_dim;
    int64_t split_offset, pad_multiple;
    int part;                       /* -1: named <tensor>; else <tensor>.partN */
} ckpt_piece_desc_t;

/* Writes data (contiguous row-major box, backend memory) as one dataset. */
int ckpt_writer_put(ckpt_writer_t *w, ckpt_kind_t kind, const ckpt_piece_desc_t *d, const float *data,
                    backend_t *be, err_t *err);
/* This rank's parameter boxes (replicated tensors only on TP rank 0). */
int ckpt_writer_put_params(ckpt_writer_t *w, backend_t *be, const ckpt_param_t *params, int n, err_t *err);
/* This rank's moment boxes for flat elements [opt->lo, opt->hi). */
int ckpt_writer_put_moments(ckpt_writer_t *w, backend_t *be, const ckpt_param_t *params, int n,
                            const ckpt_optim_state_t *opt, err_t *err);
/* Closes the file and fsyncs it. */
int ckpt_writer_close(ckpt_writer_t *w, err_t *err);
void ckpt_writer_discard(ckpt_writer_t *w);

/* ---------------------------------------------------------------- reading */

typedef struct ckpt_piece {
    int file;
    char *dset;
    ckpt_box_t box;
    int tp_rank, dp_rank;
} ckpt_piece_t;

/* One tensor of one kind, with every box stored of it. */
typedef struct ckpt_entry {
    ckpt_kind_t kind;
    char name[TENSOR_NAME_LEN];
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int split_dim;
    int64_t pad_multiple;
    int npieces;
    ckpt_piece_t *pieces;
} ckpt_entry_t;

typedef struct ckpt_rfile {
    char path[CKPT_PATH_MAX];
    char name[64];
    hid_t h;
    int64_t size;
    int tp_rank, dp_rank, optim;
} ckpt_rfile_t;

typedef struct ckpt_reader {
    char dir[CKPT_PATH_MAX];
    ckpt_meta_t meta;
    char *meta_json;
    int with_optimizer;
    int nfiles;
    ckpt_rfile_t *files;
    int nentries;
    ckpt_entry_t *entries;         /* sorted by (kind, name) */
    h5io_stage_t stage;
    float *host;                   /* staging for device backends */
    size_t host_cap;
} ckpt_reader_t;

/* path is a root with a pointer file, or an iteration directory. Returns 1 and
 * the iteration directory, 0 when path holds no checkpoint (err says why), or
 * -1 on a bad pointer (err says what). */
int ckpt_locate(const char *path, char *iter_dir, size_t len, err_t *err);

/* Opens every file of the checkpoint (the optimizer state too when
 * with_optimizer), checks the metadata of each against mp_rank_00.h5, indexes
 * every dataset and checks each tensor's boxes tile it exactly. */
int ckpt_open(ckpt_reader_t *r, const char *iter_dir, int with_optimizer, err_t *err);
void ckpt_close(ckpt_reader_t *r);

const ckpt_entry_t *ckpt_find(const ckpt_reader_t *r, ckpt_kind_t kind, const char *name);
/* Reads box (global coordinates) of e into dst (dense, row-major); elements past
 * the stored shape (padding) are zero. */
int ckpt_read(ckpt_reader_t *r, const ckpt_entry_t *e, const ckpt_box_t *box, float *dst, err_t *err);

/* This rank's slices of the parameters (shapes must match, padding rows zero). */
int ckpt_load_params(ckpt_reader_t *r, backend_t *be, const ckpt_param_t *params, int n, err_t *err);
/* This rank's moments [opt->lo, opt->hi) and the step (needs with_optimizer). */
int ckpt_load_optim(ckpt_reader_t *r, backend_t *be, const ckpt_param_t *params, int n,
                    ckpt_optim_state_t *opt, err_t *err);

/* Reads every chunk of every dataset (HDF5 verifies each Fletcher32); pg (or NULL,
 * started by the caller): its total set to the datasets, updated after each. */
int ckpt_verify(ckpt_reader_t *r, int64_t *bytes, int *datasets, progress_t *pg, err_t *err);

/* Creates path and its parents (an existing directory is fine). */
int ckpt_mkdirs(const char *path, err_t *err);

#endif
