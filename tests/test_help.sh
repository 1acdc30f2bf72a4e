#!/usr/bin/env bash
# test_help.sh MEGAC SOURCE_ROOT VERSION — `megac --version` prints meson's project
# version; `megac --help` fits one screen (24 lines of at most 100 columns) and has a
# line for every command of the dispatch table in tools/megac.c and every `megac
# ckpt` verb that tools/ckpt.c dispatches; each command answers --help with exit 0.
set -u
MEGAC=$1 SRC=$2 VERSION=$3
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

v=$("$MEGAC" --version)
[ "$v" = "megac $VERSION" ] && echo "ok: --version: $v" || fail "--version printed '$v', meson's version is $VERSION"
help=$("$MEGAC" --help) || fail "--help exited non-zero"
lines=$(printf '%s\n' "$help" | wc -l) width=$(printf '%s\n' "$help" | awk '{ if (length > w) w = length } END { print w }')
[ "$lines" -le 24 ] && [ "$width" -le 100 ] && echo "ok: --help is $lines lines of at most $width columns" \
  || fail "--help is $lines lines, $width columns: more than one screen"
printf '%s\n' "$help" | grep -q "megac $VERSION" || fail "--help does not show the version"

names=$(sed -n 's/^ *{"\([a-z -]*\)", cmd_[a-z_]*,.*/\1/p' "$SRC/tools/megac.c")
[ "$(printf '%s\n' "$names" | grep -c .)" -ge 7 ] || fail "found only these commands in tools/megac.c: $names"
while IFS= read -r name; do
  if printf '%s\n' "$help" | grep -q "^  $name  "; then echo "ok: --help lists '$name'"; else fail "--help has no line for '$name'"; fi
  # shellcheck disable=SC2086
  "$MEGAC" $name --help > /dev/null 2>&1 || fail "megac $name --help exited non-zero"
done <<< "$names"
verbs=$(sed -n 's/.*strcmp(sub, "\([a-z-]*\)") == 0.*/\1/p' "$SRC/tools/ckpt.c")
[ -n "$verbs" ] || fail "no ckpt verbs found in tools/ckpt.c"
ckline=$(printf '%s\n' "$help" | grep "^  ckpt ")
for v in $verbs; do
  printf '%s' "$ckline" | grep -qw -- "$v" && echo "ok: --help names 'ckpt $v'" || fail "--help's ckpt line lacks '$v': $ckline"
done
[ $fails -eq 0 ] && echo "help: all checks passed"
exit $((fails > 0))
