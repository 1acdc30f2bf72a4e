"""test_tokenizers.py REFS_DIR TOK_TOOL REPO_ROOT [--bench]   (run through run_py.sh)

Token-for-token comparison of megac's tokenizers (through tests/data/tok_tool)
with the reference implementations:
  GPT2BPETokenizer from gpt2.tiktoken, and from vocab.json + merges.txt,
      against tiktoken's "gpt2" encoding (encode_ordinary);
  BertWordPieceLowerCase / BertWordPieceCase from a real BERT vocab.txt,
      against Hugging Face tokenizers' BertWordPieceTokenizer (no [CLS]/[SEP]).
The corpus: English prose (the fortunes package, when installed), source code
(this repository, Python's standard library), generated multilingual text with
emoji, combining marks and whitespace runs, long words, contractions, invalid
UTF-8, and a sweep of every Unicode code point in letter/number/punctuation
contexts. Invalid UTF-8 is compared against the references run on
bytes.decode('utf-8', errors='replace') (see data/bpe.h).
Also: decode(encode(text)) == text for GPT-2 on valid UTF-8. Exit 0 or 1.
--bench also times tiktoken and megac (one thread each) on the prose+code part."""
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

import tiktoken
from tokenizers import BertWordPieceTokenizer

from corpus import char_sweep_docs, code_docs, gen_doc, invalid_docs, prose_docs, stress_docs, sweep_docs

REFS, TOK_TOOL, REPO = sys.argv[1], sys.argv[2], sys.argv[3]
BENCH = "--bench" in sys.argv
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


# ---- running the C tool ----------------------------------------------------

def write_records(path, docs):
    with open(path, "wb") as f:
        for d in docs:
            f.write(struct.pack("<I", len(d)))
            f.write(d)


def read_records(path, unit):
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if unit == 4:
            out.append(list(struct.unpack_from(f"<{n}i", data, pos)))
        else:
            out.append(data[pos:pos + n])
        pos += n * unit
    return out


def c_encode(tmp, args, docs):
    inp, outp = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    write_records(inp, docs)
    subprocess.run([TOK_TOOL, "encode", *args, inp, outp], check=True)
    return read_records(outp, 4)


def c_decode(tmp, args, ids_list):
    inp, outp = os.path.join(tmp, "ids.bin"), os.path.join(tmp, "dec.bin")
    with open(inp, "wb") as f:
        for ids in ids_list:
            f.write(struct.pack(f"<I{len(ids)}i", len(ids), *ids))
    subprocess.run([TOK_TOOL, "decode", *args, inp, outp], check=True)
    return read_records(outp, 1)


def compare(name, docs, got, want, labels):
    bad = 0
    ntok = 0
    for i, (g, w) in enumerate(zip(got, want)):
        ntok += len(w)
        if g != w:
            bad += 1
            if bad <= 5:
                k = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
                fail(f"{name}: {labels[i]} differs at token {k}: megac {g[max(0, k - 3):k + 4]} "
                     f"reference {w[max(0, k - 3):k + 4]}; text {docs[i][:120]!r}")
    if len(got) != len(want):
        fail(f"{name}: {len(got)} results for {len(want)} documents")
    print(f"{name}: {len(docs)} documents, {ntok} reference tokens, {bad} documents differ")
    return ntok


def main():
    rng = random.Random(1234)
    groups = [("prose", prose_docs()), ("code", code_docs(REPO)), ("generated", [gen_doc(rng) for _ in range(3000)]),
              ("stress", stress_docs(rng)), ("invalid-utf8", invalid_docs(rng)), ("sweep", sweep_docs())]
    if not groups[0][1]:
        print("note: the fortunes package is not installed; English prose comes from the code and generated text")
    docs, labels = [], []
    for g, ds in groups:
        docs += ds
        labels += [f"{g}[{i}]" for i in range(len(ds))]
    texts = [d.decode("utf-8", "replace") for d in docs]
    print(f"corpus: {len(docs)} documents, {sum(map(len, docs))} bytes")

    tk = os.path.join(REFS, "gpt2.tiktoken")
    import base64
    ranks = {}
    for line in open(tk, "rb"):
        if line.strip():
            t, r = line.split()
            ranks[base64.b64decode(t)] = int(r)
    pat = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    enc = tiktoken.Encoding("gpt2", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
    t0 = time.time()
    want = enc.encode_ordinary_batch(texts, num_threads=1)
    t_ref = time.time() - t0
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in [("GPT2BPETokenizer(tiktoken file)", ["GPT2BPETokenizer", "-", "-", tk]),
                           ("GPT2BPETokenizer(vocab.json+merges.txt)",
                            ["GPT2BPETokenizer", os.path.join(REFS, "vocab.json"), os.path.join(REFS, "merges.txt"), "-"])]:
            got = c_encode(tmp, args, docs)
            total += compare(name, docs, got, want, labels)
        valid = [i for i, d in enumerate(docs) if d.decode("utf-8", "replace").encode() == d]
        back = c_decode(tmp, ["GPT2BPETokenizer", "-", "-", tk], [want[i] for i in valid])
        bad = sum(1 for i, b in zip(valid, back) if b != docs[i])
        if bad:
            fail(f"GPT-2 decode(encode(text)) != text for {bad} of {len(valid)} documents")
        print(f"GPT-2 decode round trip: {len(valid)} documents, {bad} differ")

        vocab_txt = os.path.join(REFS, "bert-vocab.txt")
        special = ("[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]")
        sweep = len(docs) - len(groups[-1][1])  # BERT takes the per-character sweep instead of the last group
        keep = [i for i, t in enumerate(texts[:sweep]) if not any(s in t for s in special)]
        chars = char_sweep_docs()
        kdocs = [docs[i] for i in keep] + chars
        klabels = [labels[i] for i in keep] + [f"char U+{ord(d.decode()[1]):04X}" for d in chars]
        ktexts = [texts[i] for i in keep] + [d.decode() for d in chars]
        print(f"BERT: {sweep - len(keep)} documents containing literal special-token text left out "
              "(Hugging Face turns them into special ids; megac and Megatron keep them as text)")
        for name, lower in [("BertWordPieceLowerCase", True), ("BertWordPieceCase", False)]:
            hf = BertWordPieceTokenizer(vocab_txt, lowercase=lower)
            want_b = [e.ids for e in hf.encode_batch(ktexts, add_special_tokens=False)]
            got = c_encode(tmp, [name, vocab_txt, "-", "-"], kdocs)
            total += compare(name, kdocs, got, want_b, klabels)
        if BENCH:
            bench_docs = groups[0][1] + groups[1][1]
            write_records(os.path.join(tmp, "bench.bin"), bench_docs)
            btexts = [d.decode("utf-8", "replace") for d in bench_docs]
            nbytes = sum(map(len, bench_docs))
            t0 = time.time()
            ntok = sum(len(enc.encode_ordinary(t)) for t in btexts)
            t_tk = time.time() - t0
            r = subprocess.run([TOK_TOOL, "bench", "GPT2BPETokenizer", "-", "-", tk, os.path.join(tmp, "bench.bin"), "1"],
                               check=True, capture_output=True, text=True).stdout
            t_c = float(r.split("seconds=")[1])
            print(f"bench GPT-2, one thread, {nbytes / 1e6:.1f} MB, {ntok} tokens: tiktoken {nbytes / t_tk / 1e6:.1f} MB/s, "
                  f"megac {nbytes / t_c / 1e6:.1f} MB/s, megac/tiktoken {t_tk / t_c:.2f}")
    print(f"compared {total} reference tokens in all (tiktoken took {t_ref:.1f} s)")
    if failures:
        print(f"test_tokenizers: {failures} failure(s)")
        return 1
    print("test_tokenizers: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
