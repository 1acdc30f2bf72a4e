"""make_gpt2_files.py GPT2_TIKTOKEN OUTDIR — writes GPT-2's vocab.json and
merges.txt (the files Megatron's --vocab-file/--merge-file take) from the
tiktoken rank file, then checks them with tiktoken's own loader for those files
(tiktoken.load.data_gym_to_mergeable_bpe_ranks must give back the same ranks).

Token ids are the ranks; <|endoftext|> is 50256. Merge k (line k+1 after the
"#version" line) makes token 256+k: its two halves are what BPE with only the
ranks below it leaves, the rule Hugging Face's tiktoken converter uses."""
import base64
import json
import os
import sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe_parts(ranks, token, max_rank):
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return parts
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


def main():
    src, out = sys.argv[1], sys.argv[2]
    ranks = {}
    with open(src, "rb") as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    b2u = bytes_to_unicode()
    enc = lambda bs: "".join(b2u[b] for b in bs)
    vocab = {enc(t): r for t, r in ranks.items()}
    vocab["<|endoftext|>"] = len(ranks)
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) == 1:
            continue
        parts = bpe_parts(ranks, tok, rank)
        if len(parts) != 2:
            sys.exit(f"token {tok!r} (rank {rank}) is not one merge of lower-ranked tokens")
        merges.append(f"{enc(parts[0])} {enc(parts[1])}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")

    import tiktoken.load

    back = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        os.path.join(out, "merges.txt"), os.path.join(out, "vocab.json")
    )
    if back != ranks:
        sys.exit("tiktoken's data_gym loader does not give back the ranks")
    print(f"make_gpt2_files: {len(vocab)} tokens, {len(merges)} merges -> {out}")


if __name__ == "__main__":
    main()
