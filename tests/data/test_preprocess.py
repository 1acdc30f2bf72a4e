"""test_preprocess.py REFS_DIR MEGAC REPO_ROOT   (run through run_py.sh)

`megac preprocess` end to end, read back with a NumPy MMIDIDX reader written
here from the published format (not from megac's code):
  - GPT2BPETokenizer (tiktoken file, 2 workers, --append-eod): every document is
    tiktoken's encode_ordinary(text) + [50256], uint16; the same bytes with 1
    worker and with vocab.json + merges.txt;
  - BertWordPieceLowerCase: Hugging Face's ids + [EOS]; a vocabulary past 65,500
    ids switches the dtype to int32;
  - --split-sentences: sequences that decode back to the document;
  - malformed lines are reported with their line numbers and counted; --strict
    stops at the first and leaves no output; texts holding "\u0000" are kept and
    tokenized with the NUL, as tiktoken and Hugging Face do;
and the other way: datasets written by a NumPy writer (uint16, int32, int64,
multi-sequence and empty documents) read by `megac preprocess --inspect`, which
also refuses corrupted ones with one line naming the file and offset."""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np
import tiktoken
from tokenizers import BertWordPieceTokenizer

from corpus import gen_doc, prose_docs, stress_docs

REFS, MEGAC, REPO = sys.argv[1], sys.argv[2], sys.argv[3]
failures = 0
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def np_read(prefix):
    """MMIDIDX reader from the format: header, lengths, pointers, document index."""
    idx = open(prefix + ".idx", "rb").read()
    assert idx[:9] == b"MMIDIDX\x00\x00", "magic"
    (version,) = struct.unpack_from("<Q", idx, 9)
    code = idx[17]
    seqs, docs = struct.unpack_from("<QQ", idx, 18)
    assert version == 1
    lens = np.frombuffer(idx, dtype="<i4", count=seqs, offset=34)
    ptrs = np.frombuffer(idx, dtype="<i8", count=seqs, offset=34 + 4 * seqs)
    doc_idx = np.frombuffer(idx, dtype="<i8", count=docs, offset=34 + 12 * seqs)
    assert len(idx) == 34 + 12 * seqs + 8 * docs, "index size"
    data = np.fromfile(prefix + ".bin", dtype=np.dtype(DTYPES[code]).newbyteorder("<"))
    item = np.dtype(DTYPES[code]).itemsize
    out = []
    for d in range(docs - 1):
        out.append([data[ptrs[s] // item: ptrs[s] // item + lens[s]].tolist() for s in range(doc_idx[d], doc_idx[d + 1])])
    return code, out


def np_write(prefix, dtype, documents):
    """MMIDIDX writer from the format; documents: lists of sequences (token lists)."""
    code = {v: k for k, v in DTYPES.items()}[dtype]
    item = np.dtype(dtype).itemsize
    lens, ptrs, doc_idx, pos = [], [], [0], 0
    with open(prefix + ".bin", "wb") as f:
        for doc in documents:
            for seq in doc:
                f.write(np.asarray(seq, dtype=np.dtype(dtype).newbyteorder("<")).tobytes())
                lens.append(len(seq))
                ptrs.append(pos)
                pos += len(seq) * item
            doc_idx.append(len(lens))
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", code))
        f.write(struct.pack("<QQ", len(lens), len(doc_idx)))
        f.write(np.asarray(lens, dtype="<i4").tobytes() + np.asarray(ptrs, dtype="<i8").tobytes())
        f.write(np.asarray(doc_idx, dtype="<i8").tobytes())


def vocab_path(refs):
    return os.path.join(refs, "bert-vocab.txt")


def run(args, **kw):
    return subprocess.run([MEGAC, *args], capture_output=True, text=True, **kw)


def main():
    rng = random.Random(7)
    texts = [d.decode("utf-8") for d in prose_docs()[:3000]]
    texts += [gen_doc(rng).decode("utf-8") for _ in range(500)]
    texts += [d.decode("utf-8") for d in stress_docs(rng) if d.decode("utf-8", "replace").encode() == d]
    texts.append("")  # an empty document: no sequence, no EOD (Megatron's rule)
    # "\u0000" in a text is kept, as Megatron's json.loads keeps it (GPT-2: byte token 188;
    # BERT drops it as Hugging Face's text cleaning does); skipping the line shifted every
    # later document index (issue 17, item 19)
    texts += ["a\x00b", "hello\x00 world", "\x00", "x \x00\x00y", "NUL at the end\x00", "tab\\u0000 is text",
              "\x00\ufdd0 a noncharacter too"]
    tk = os.path.join(REFS, "gpt2.tiktoken")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        bad_lines = {}
        with open(corpus, "wb") as f:
            n = 0
            for i, t in enumerate(texts):
                f.write((json.dumps({"id": i, "text": t}, ensure_ascii=i % 2 == 0) + "\n").encode())
                n += 1
                if i in (10, 700, 2000):
                    bad = {10: b'{"text": "unterminated\n', 700: b'{"body": "no text key"}\n',
                           2000: b'{"text": "bad \xc3\x28 byte"}\n'}[i]
                    f.write(bad)
                    n += 1
                    bad_lines[n] = bad
                if i == 1500:
                    f.write(b"\n")
                    n += 1
        ranks = {}
        import base64
        for line in open(tk, "rb"):
            if line.strip():
                a, b = line.split()
                ranks[base64.b64decode(a)] = int(b)
        pat = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
        enc = tiktoken.Encoding("gpt2", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})

        # GPT-2, 2 workers
        out2 = os.path.join(tmp, "w2")
        r = run(["preprocess", "--input", corpus, "--output-prefix", out2, "--tokenizer-type", "GPT2BPETokenizer",
                 "--tiktoken-file", tk, "--append-eod", "--workers", "2"])
        check(r.returncode == 0, f"preprocess failed: {r.stderr}")
        for ln in bad_lines:
            check(f"corpus.jsonl:{ln}:" in r.stderr, f"bad line {ln} not reported: {r.stderr}")
        check("3 lines skipped" in r.stderr and "1 blank" in r.stderr, f"summary: {r.stderr}")
        check("docs/s" in r.stderr and "MB/s" in r.stderr, "no throughput in the summary line")
        code, docs = np_read(out2 + "_text_document")
        check(code == 8, f"GPT-2 dtype code {code}, expected 8 (uint16)")
        check(len(docs) == len(texts), f"{len(docs)} documents for {len(texts)} good lines")
        want = [enc.encode_ordinary(t) for t in texts]
        bad = sum(1 for d, w in zip(docs, want) if d != ([w + [50256]] if w else []))
        ntok = sum(len(w) + 1 for w in want)
        check(bad == 0, f"GPT-2: {bad} documents differ from tiktoken")
        print(f"GPT-2 preprocess: {len(docs)} documents, {ntok} tokens compared with tiktoken, {bad} differ")
        # 1 worker, and vocab.json + merges.txt: the same bytes
        out1 = os.path.join(tmp, "w1")
        r = run(["preprocess", "--input", corpus, "--output-prefix", out1, "--tokenizer-type", "GPT2BPETokenizer",
                 "--vocab-file", os.path.join(REFS, "vocab.json"), "--merge-file", os.path.join(REFS, "merges.txt"),
                 "--append-eod", "--workers", "1"])
        check(r.returncode == 0, f"preprocess (1 worker) failed: {r.stderr}")
        for ext in (".bin", ".idx"):
            same = open(out1 + "_text_document" + ext, "rb").read() == open(out2 + "_text_document" + ext, "rb").read()
            check(same, f"{ext} differs between 1 and 2 workers / tiktoken and vocab.json+merges.txt files")
        # --inspect decodes a document
        r = run(["preprocess", "--inspect", out2 + "_text_document", "--tokenizer-type", "GPT2BPETokenizer",
                 "--tiktoken-file", tk, "--sample", "3"])
        check(r.returncode == 0 and texts[3][:40] in r.stdout and f"{len(texts)} documents" in r.stdout,
              f"--inspect: {r.stdout[:300]} {r.stderr}")

        # --split-sentences: sequences decode back to the document
        r = run(["preprocess", "--input", corpus, "--output-prefix", out2, "--tokenizer-type", "GPT2BPETokenizer",
                 "--tiktoken-file", tk, "--append-eod", "--workers", "2", "--split-sentences"])
        check(r.returncode == 0, f"--split-sentences failed: {r.stderr}")
        _, sdocs = np_read(out2 + "_text_sentence")
        multi = sum(1 for d in sdocs if len(d) > 1)
        back = sum(1 for d, t in zip(sdocs, texts) if t and enc.decode_bytes(sum(d, [])[:-1]) != t.encode())
        check(multi > 100 and back == 0, f"--split-sentences: {multi} multi-sentence documents, {back} do not decode back")
        same_tokens = sum(1 for d, w in zip(sdocs, want) if sum(d, []) == (w + [50256] if w else []))
        print(f"--split-sentences: {multi} documents split, {same_tokens} of {len(texts)} tokenize as the whole text")

        # --strict: stops at the first bad line, nothing written
        strict = os.path.join(tmp, "strict")
        r = run(["preprocess", "--input", corpus, "--output-prefix", strict, "--tokenizer-type", "GPT2BPETokenizer",
                 "--tiktoken-file", tk, "--strict"])
        first = min(bad_lines)
        check(r.returncode == 1 and f"corpus.jsonl:{first}:" in r.stderr and r.stderr.count("\n") == 1,
              f"--strict: exit {r.returncode}: {r.stderr}")
        check(not any(f.startswith("strict") for f in os.listdir(tmp)), f"--strict left files: {os.listdir(tmp)}")

        # bad flags and files: one line naming the flag or file, exit 1
        for args, needle in (
                (["--tokenizer-type", "GPT2BPETokenizer", "--tiktoken-file", os.path.join(tmp, "none.tiktoken")], "none.tiktoken"),
                (["--tokenizer-type", "GPT2BPETokenizer", "--vocab-file", os.path.join(REFS, "vocab.json")], "--merge-file"),
                (["--tokenizer-type", "SentencePiece", "--vocab-file", vocab_path(REFS)], "--tokenizer-type"),
                (["--tokenizer-type", "BertWordPieceCase", "--vocab-file", os.path.join(REFS, "merges.txt")], "[UNK]"),
                (["--tokenizer-type", "GPT2BPETokenizer", "--vocab-file", os.path.join(REFS, "bert-vocab.txt"),
                  "--merge-file", os.path.join(REFS, "merges.txt")], "bert-vocab.txt"),
                (["--tokenizer-type", "GPT2BPETokenizer", "--tiktoken-file", tk, "--workers", "0"], "--workers")):
            r = run(["preprocess", "--input", corpus, "--output-prefix", os.path.join(tmp, "x"), *args])
            check(r.returncode == 1 and r.stderr.count("\n") == 1 and needle in r.stderr,
                  f"bad input {args[-1]}: exit {r.returncode}: {r.stderr}")
        r = run(["preprocess", "--input", os.path.join(tmp, "missing.jsonl"), "--output-prefix", os.path.join(tmp, "x"),
                 "--tokenizer-type", "GPT2BPETokenizer", "--tiktoken-file", tk])
        check(r.returncode == 1 and "missing.jsonl" in r.stderr, f"missing input: {r.stderr}")
        r = run(["preprocess", "--input", corpus, "--output-prefix", os.path.join(tmp, "no", "dir", "x"),
                 "--tokenizer-type", "GPT2BPETokenizer", "--tiktoken-file", tk])
        check(r.returncode == 1 and "no/dir/x" in r.stderr, f"output in a missing directory: {r.stderr}")

        # BERT lower case: Hugging Face's ids + [EOS]; uint16, then int32 past 65,500 ids
        vocab = os.path.join(REFS, "bert-vocab.txt")
        words = open(vocab, encoding="utf-8").read().split("\n")[:-1]
        big = os.path.join(tmp, "big-vocab.txt")
        with open(big, "w", encoding="utf-8") as f:
            f.write("\n".join(words + [f"[filler{i}]" for i in range(70000 - len(words))]) + "\n")
        special = ("[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]")
        keep = [i for i, t in enumerate(texts) if not any(s in t for s in special)]
        for name, v, n_vocab, want_code in (("bert", vocab, len(words), 8), ("bertbig", big, 70000, 4)):
            out = os.path.join(tmp, name)
            r = run(["preprocess", "--input", corpus, "--output-prefix", out, "--tokenizer-type", "BertWordPieceLowerCase",
                     "--vocab-file", v, "--append-eod", "--workers", "2"])
            check(r.returncode == 0, f"{name}: {r.stderr}")
            code, bdocs = np_read(out + "_text_document")
            check(code == want_code, f"{name}: dtype code {code}, expected {want_code}")
            hf = BertWordPieceTokenizer(v, lowercase=True)
            eos = n_vocab + 1  # [BOS], [EOS] appended after the file's tokens
            hw = hf.encode_batch([texts[i] for i in keep], add_special_tokens=False)
            bad = sum(1 for i, e in zip(keep, hw) if bdocs[i] != ([e.ids + [eos]] if e.ids else []))
            check(bad == 0, f"{name}: {bad} documents differ from Hugging Face")
            print(f"{name} preprocess: {len(keep)} documents compared with Hugging Face, {bad} differ")

        # NumPy-written datasets read by megac
        nrng = np.random.default_rng(3)
        for dtype, hi in ((np.uint16, 65535), (np.int32, 2 ** 31 - 1), (np.int64, 2 ** 31 - 1)):
            documents = []
            for d in range(60):
                nseq = 0 if d == 4 else int(nrng.integers(1, 4))
                documents.append([nrng.integers(0, hi, size=int(nrng.integers(0, 30))).tolist() for _ in range(nseq)])
            prefix = os.path.join(tmp, f"np_{np.dtype(dtype).name}")
            np_write(prefix, dtype, documents)
            for d in (0, 4, 17, 59):
                r = run(["preprocess", "--inspect", prefix, "--sample", str(d)])
                got = r.stdout.split("token ids (give the tokenizer flags to decode):")[-1].split()
                check(r.returncode == 0 and [int(x) for x in got] == sum(documents[d], []),
                      f"numpy {np.dtype(dtype).name} document {d}: megac read {got[:8]}, wrote {sum(documents[d], [])[:8]}")
            check(f"60 documents" in r.stdout and f"{sum(len(d) for d in documents)} sequences" in r.stdout,
                  f"numpy {np.dtype(dtype).name}: counts {r.stdout.splitlines()[0]}")
        # corrupted: refused with one line naming the file and the offset
        prefix = os.path.join(tmp, "np_int32")
        idx = bytearray(open(prefix + ".idx", "rb").read())
        for what, pos, val in (("magic", 2, 0x41), ("dtype", 17, 42), ("a length", 34 + 4 * 5, 0xFF)):
            broken = bytearray(idx)
            broken[pos] = val
            if what == "a length":
                broken[pos + 3] = 0xFF
            open(os.path.join(tmp, "broken.idx"), "wb").write(broken)
            open(os.path.join(tmp, "broken.bin"), "wb").write(open(prefix + ".bin", "rb").read())
            r = run(["preprocess", "--inspect", os.path.join(tmp, "broken")])
            check(r.returncode == 1 and r.stderr.count("\n") == 1 and "broken.idx" in r.stderr and "offset" in r.stderr,
                  f"corrupted {what}: exit {r.returncode}: {r.stderr}")
        open(os.path.join(tmp, "broken.idx"), "wb").write(idx[: len(idx) // 2])
        r = run(["preprocess", "--inspect", os.path.join(tmp, "broken")])
        check(r.returncode == 1 and "broken.idx" in r.stderr and r.stderr.count("\n") == 1, f"truncated: {r.stderr}")
    if failures:
        print(f"test_preprocess: {failures} failure(s)")
        return 1
    print("test_preprocess: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
