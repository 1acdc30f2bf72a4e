#!/usr/bin/env bash
# test_tiktoken_long.sh MEGAC — a --tiktoken-file with very long tokens loads in time
# linear in the file (issue 17, item 13: a 100 KB token took 13 s, quadratic in its
# length; the 400 KB tokens here took minutes). The bound, 20 s for files of 1 MB, is
# generous; the load takes milliseconds. The long tokens must still merge: 'a' * N
# splits into 'a' + 'a' * (N - 1), so the text 'a' * N encodes as that one token.
set -u
MEGAC=$(realpath "$1")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
N=400000
python3 - "$W" $N <<'PY'
import base64, json, sys
w, n = sys.argv[1], int(sys.argv[2])
toks = [bytes([i]) for i in range(256)] + [b"aa", b"a" * (n - 1), b"a" * n]
with open(w + "/long.tiktoken", "w") as f:
    for r, t in enumerate(toks):
        f.write("%s %d\n" % (base64.b64encode(t).decode(), r))
with open(w + "/in.jsonl", "w") as f:
    f.write(json.dumps({"text": "a" * n}) + "\n")
    f.write(json.dumps({"text": "aaa"}) + "\n")
PY
start=$(date +%s.%N)
out=$(timeout 20 "$MEGAC" preprocess --input "$W/in.jsonl" --output-prefix "$W/o" --tokenizer-type GPT2BPETokenizer \
      --tiktoken-file "$W/long.tiktoken" --log-interval 0 2>&1)
rc=$?
secs=$(echo "$(date +%s.%N) - $start" | bc)
if [ $rc -eq 124 ]; then fail "loading two tokens of $N bytes took over 20 s"
elif [ $rc -ne 0 ]; then fail "exit $rc: $out"
else
  echo "ok: two tokens of $N bytes loaded and encoded in $secs s"
  ids=$("$MEGAC" preprocess --inspect "$W/o_text_document" --sample 0 | tail -1)
  [ "$ids" = "token ids (give the tokenizer flags to decode): 258" ] && echo "ok: 'a' * $N is one token" ||
    fail "'a' * $N encoded as '$ids' (expected the single token 258)"
  ids=$("$MEGAC" preprocess --inspect "$W/o_text_document" --sample 1 | tail -1)
  [ "$ids" = "token ids (give the tokenizer flags to decode): 256 97" ] && echo "ok: 'aaa' is 'aa' 'a'" ||
    fail "'aaa' encoded as '$ids' (expected 256 97)"
fi
if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "test_tiktoken_long: all checks passed"
