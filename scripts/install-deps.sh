#!/bin/sh
# install-deps.sh: everything berth needs on a Debian 12 host, and the guest kernel.
#
# Installs the build and runtime packages with apt, then fetches Debian's generic kernel package
# (not installed on the host: only unpacked) into KERNEL_DIR, where berthd finds it by default.
# The generic kernel is used because it is the one with 9p (host directory shares); berthd boots
# its uncompressed vmlinux, which it cuts out of the bzImage once and caches.
#
# Idempotent: packages already present and a kernel already unpacked are left as they are.
set -eu

KERNEL_DIR=${BERTH_KERNEL_DIR:-/var/cache/berth/kernel}
KERNEL_META=${BERTH_KERNEL_PACKAGE:-linux-image-amd64}

# ccache keeps compiled objects between clean checkouts (build.sh and fuzz.sh use it).
# clang alone gives neither libFuzzer nor the sanitizer runtimes: libclang-rt-dev (which pulls in
# libclang-rt-14-dev) has them, and llvm puts llvm-symbolizer on PATH for readable reports.
packages="
  build-essential cmake ninja-build pkg-config
  libcaf-dev libmsgpack-cxx-dev libarchive-dev libssl-dev libfmt-dev catch2
  libcurl4-openssl-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  qemu-system-x86 erofs-utils e2fsprogs nftables iproute2 kmod cpio xz-utils zstd
  busybox-static docker-registry skopeo umoci apache2-utils hyperfine
  clang libclang-rt-dev llvm clang-format ccache
  python3 python3-msgpack
"

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (it installs packages)" >&2
  exit 1
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "==> installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The registry package starts a system service on install; berth's tests start their own registries
# on loopback, so leave nothing listening that we did not ask for.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# The guest kernel: resolve the metapackage to its versioned image package, download and unpack it.
pkg=$(apt-cache depends "$KERNEL_META" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
  echo "install-deps.sh: cannot resolve $KERNEL_META to a kernel package" >&2
  exit 1
fi
version=${pkg#linux-image-}
if [ ! -e "$KERNEL_DIR/$version/boot/vmlinuz-$version" ]; then
  echo "==> fetching guest kernel $pkg"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
  mkdir -p "$KERNEL_DIR"
  rm -rf "$KERNEL_DIR/$version.tmp"
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$KERNEL_DIR/$version.tmp"
  # depmod makes modules.dep, which berthd reads to find each module's dependencies.
  depmod -b "$KERNEL_DIR/$version.tmp" "$version"
  mv "$KERNEL_DIR/$version.tmp" "$KERNEL_DIR/$version"
fi
ln -sfn "$version" "$KERNEL_DIR/default.tmp" && mv -T "$KERNEL_DIR/default.tmp" "$KERNEL_DIR/default"
echo "==> guest kernel: $KERNEL_DIR/default -> $version"
