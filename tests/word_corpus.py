"""word_corpus.py OUT_DIR — a made-up corpus for the shell tests: OUT_DIR/vocab.txt
(a 306-line WordPiece vocabulary: the BERT specials, "." and 300 words),
OUT_DIR/corpus.jsonl (300 documents of 4 to 9 sentences, each document drawing
from its own 40 words, so a masked LM has something to learn) and the same
documents as plain text lines in OUT_DIR/corpus.txt. Standard library only;
always the same files."""
import json, random, sys

w = sys.argv[1]
rng = random.Random(5)
words = sorted({"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 7))) for _ in range(400)})[:300]
with open(w + "/vocab.txt", "w") as f:
    f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + words) + "\n")
with open(w + "/corpus.jsonl", "w") as f, open(w + "/corpus.txt", "w") as t:
    for d in range(300):
        topic = rng.sample(words, 40)
        sents = []
        for s in range(rng.randint(4, 9)):
            ws = [rng.choice(topic) for _ in range(rng.randint(4, 10))]
            sents.append(" ".join([ws[0].capitalize()] + ws[1:]) + ".")
        f.write(json.dumps({"text": " ".join(sents)}) + "\n")
        t.write(" ".join(sents) + "\n")
