#!/usr/bin/env bash
# py_env.sh — prints a Python interpreter that has numpy and h5py (the readers the
# checkpoint tests check megac's files with): python3 itself when it has them,
# else a virtual environment (MEGAC_CKPT_VENV, default out/ckpt-venv of this
# repository, ignored by git) where pip installs them. Exit 1 with the reason on
# stderr when neither works.
here=$(cd "$(dirname "$0")" && pwd)
venv=${MEGAC_CKPT_VENV:-$(cd "$here/../.." && pwd)/out/ckpt-venv}
if python3 -c 'import numpy, h5py' 2>/dev/null; then command -v python3; exit 0; fi
if "$venv/bin/python" -c 'import numpy, h5py' 2>/dev/null; then echo "$venv/bin/python"; exit 0; fi
echo "py_env: installing numpy and h5py into $venv" >&2
python3 -m venv "$venv" >&2 || { echo "py_env: cannot create a virtual environment (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$venv/bin/pip" install -q --disable-pip-version-check numpy h5py >&2 || { echo "py_env: pip install numpy h5py failed" >&2; exit 1; }
"$venv/bin/python" -c 'import numpy, h5py' || { echo "py_env: numpy/h5py do not import after installing" >&2; exit 1; }
echo "$venv/bin/python"
