#!/usr/bin/env bash
# run_py.sh SCRIPT ARGS... — runs a data test script with the reference packages
# (tests/data/fetch_refs.sh fetches them into out/refs); the script gets the
# references directory as its first argument. Exits 77 (skipped) only when the
# references cannot be fetched, saying why.
here=$(cd "$(dirname "$0")" && pwd)
refs=${MEGAC_REFS:-$here/../../out/refs}
script=$1
shift
if ! bash "$here/fetch_refs.sh" "$refs"; then
  echo "SKIP: the reference packages could not be installed (see the fetch_refs lines above)"
  exit 77
fi
exec "$(cat "$refs/python")" -B "$here/$script" "$refs" "$@"
