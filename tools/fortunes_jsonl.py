#!/usr/bin/env python3
"""fortunes_jsonl.py OUT.jsonl — the English text of Debian's `fortunes` package
(every fortune file but the ASCII-art ones) as JSON Lines, one fortune per
document, for `megac preprocess`."""
import glob
import json
import os
import sys

SKIP = {"art", "ascii-art", "translate-me"}


def main():
    out_path = sys.argv[1]
    files = sorted(f for f in glob.glob("/usr/share/games/fortunes/*")
                   if os.path.isfile(f) and not f.endswith((".dat", ".u8")) and os.path.basename(f) not in SKIP)
    if not files:
        sys.exit("fortunes_jsonl: no fortune files in /usr/share/games/fortunes (apt-get install fortunes)")
    n = 0
    with open(out_path + ".tmp", "w", encoding="utf-8") as out:
        for path in files:
            doc = []
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.strip() == "%":
                        if doc:
                            out.write(json.dumps({"text": "".join(doc)}) + "\n")
                            n += 1
                        doc = []
                    else:
                        doc.append(line)
            if doc:
                out.write(json.dumps({"text": "".join(doc)}) + "\n")
                n += 1
    os.replace(out_path + ".tmp", out_path)
    print(f"fortunes_jsonl: {n} documents from {len(files)} files -> {out_path}")


if __name__ == "__main__":
    main()
