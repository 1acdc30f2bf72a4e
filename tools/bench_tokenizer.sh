#!/usr/bin/env bash
# bench_tokenizer.sh — GPT-2 BPE single-thread throughput, megac against tiktoken on
# the same text in the same run (after the token-exactness comparison), e.g.
#   bench GPT-2, one thread, 6.2 MB, ...: tiktoken 10.7 MB/s, megac 58.9 MB/s, megac/tiktoken 5.5
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/tests/data/tok_tool ] || bash tools/build.sh build
exec bash tests/data/run_py.sh test_tokenizers.py "$PWD/build/tests/data/tok_tool" "$PWD" --bench
