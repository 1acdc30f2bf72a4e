#!/usr/bin/env bash
# setup.sh — installs the Debian packages megac builds and runs with (idempotent).
# Dependencies, chosen: meson + ninja (build), OpenBLAS in its OpenMP flavour
# (sgemm inside our own OpenMP loops stays single-threaded), OpenMP (gcc's libgomp),
# the `fortunes` corpus the quickstart trains on, clang for the libFuzzer harnesses, and a
# one-node Slurm cluster for the cluster_slurm test (munge, slurmctld, slurmd, the client
# commands; Slurm's PMIx plugin is in slurm-wlm-basic-plugins).
set -euo pipefail
pkgs=(gcc g++ meson ninja-build pkg-config libopenblas-openmp-dev libopenmpi-dev openmpi-bin fortunes libutf8proc-dev libcjson-dev python3 python3-venv libhdf5-dev hdf5-tools clang
      munge slurmctld slurmd slurm-client slurm-wlm-basic-plugins iproute2 util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if dpkg-query -W -f='${Status}' libopenblas-pthread-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: note: libopenblas-pthread-dev is installed too; megac wants the OpenMP build" >&2
  echo "       (update-alternatives --config openblas.pc-$(uname -m)-linux-gnu)" >&2
fi
