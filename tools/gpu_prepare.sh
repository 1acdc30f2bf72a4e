#!/usr/bin/env bash
# gpu_prepare.sh — run HERE (a Debian machine with network) before tools/gpu_check.sh
# runs on a GPU machine that has CUDA, meson and ninja but no network and none of
# Open MPI, OpenBLAS, HDF5, cJSON, utf8proc or pkg-config: downloads those Debian
# packages (runtime libraries, headers, pkg-config files; ~35 MB) into .deps/debs,
# which the check unpacks there. Then call the device tool with carry [".deps"]:
#   bash tools/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.deps/' .git/info/exclude 2>/dev/null || grep -q '^/.deps/' .gitignore || echo '/.deps/' >> .git/info/exclude
# only the .debs travel: a tree unpacked here (older scripts did) would break carry's 64 MiB
rm -rf .deps/root
mkdir -p .deps/debs
cd .deps/debs
pkgs=(
  # OpenBLAS (OpenMP build) and its Fortran runtime
  libopenblas0-openmp libopenblas-openmp-dev libgfortran5 libquadmath0 libgomp1
  # Open MPI and what its plugins link
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7
  libpmix2 libfabric1 libucx0 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1 libpsm2-2
  libpsm-infinipath1 libmunge2 libxnvctrl0 libltdl7 libpciaccess0 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6
  libbsd0 libmd0 ocl-icd-libopencl1
  # HDF5 (serial) and its runtime
  libhdf5-103-1 libhdf5-hl-100 libhdf5-dev libsz2 libaec0 libcurl4 libnghttp2-14 librtmp1 libssh2-1 libpsl5
  libldap-2.5-0 libsasl2-2 libsasl2-modules-db libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
  libkeyutils1 libcom-err2 libbrotli1
  # JSON and Unicode for the data pipeline and safetensors
  libcjson1 libcjson-dev libutf8proc2 libutf8proc-dev
  # pkg-config, which meson asks for the flags of all of the above
  pkgconf pkgconf-bin libpkgconf3 pkg-config
)
[ "$(id -u)" -eq 0 ] && [ ! -f /tmp/.megac_apt_updated ] && apt-get update -qq && touch /tmp/.megac_apt_updated
apt-get download "${pkgs[@]}" >/dev/null 2>&1 || { echo "gpu_prepare: apt-get download failed" >&2; exit 1; }
echo "gpu_prepare: $(ls *.deb | wc -l) packages, $(du -sh . | cut -f1) in .deps/debs ($(du -sh .. | cut -f1) to carry)"
