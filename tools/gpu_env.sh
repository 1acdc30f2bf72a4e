# gpu_env.sh — sourced (from the repository root) by tools/gpu_check.sh and
# tools/gpu_bench.sh on a GPU machine that has CUDA, meson and ninja but none of
# megac's other dependencies: unpacks the Debian packages that tools/gpu_prepare.sh
# put in .deps/debs (carried to the machine) into $MEGAC_DEPS_ROOT (default
# /tmp/megac-deps: outside the repository, so that sourcing this where .deps is
# prepared never makes .deps too large to carry — unpacked it is ~160 MB), and
# exports the paths that meson, the build, the binaries and mpirun need.
# Defines: root (the unpacked tree), lib (its multiarch library folder), and
#   gpu_build LOGDIR — configures and builds build-gpu/ with -Dcuda=enabled for sm_90
#                      (setup.log and build.log in LOGDIR); status 0 when built.
root=${MEGAC_DEPS_ROOT:-/tmp/megac-deps}
if [ ! -d .deps/debs ]; then
  echo "gpu_env: .deps/debs missing: run tools/gpu_prepare.sh here and carry .deps" >&2
  exit 2
fi
mkdir -p "$root/pc"
if [ ! -f "$root/.unpacked" ]; then
  for d in .deps/debs/*.deb; do dpkg -x "$d" "$root"; done
  touch "$root/.unpacked"
fi
lib=$root/usr/lib/x86_64-linux-gnu
# pkg-config files with their prefixes moved under $root
find "$root/usr" -name '*.pc' -type f | while read -r pc; do sed "s|/usr|$root/usr|g" "$pc" > "$root/pc/$(basename "$pc")"; done
[ -f "$root/pc/hdf5.pc" ] || cp "$root/pc/hdf5-serial.pc" "$root/pc/hdf5.pc"
export PKG_CONFIG_LIBDIR=$root/pc PATH=$root/usr/bin:$PATH OPAL_PREFIX=$root/usr
export LD_LIBRARY_PATH=$lib:$lib/openblas-openmp:$lib/openmpi/lib:$lib/hdf5/serial:${LD_LIBRARY_PATH:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ln -sf libopenblas.so.0 "$lib/openblas-openmp/libopenblas.so" 2>/dev/null

gpu_build() {
  if [ ! -f build-gpu/build.ninja ]; then
    meson setup build-gpu -Dcuda=enabled -Dgpu_archs=90 --buildtype=release > "$1/setup.log" 2>&1 || return 1
  fi
  ninja -C build-gpu > "$1/build.log" 2>&1
}
