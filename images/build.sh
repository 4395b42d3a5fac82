#!/usr/bin/env bash
# Builds every sandbox image without a registry: a debootstrap (minbase) root
# with the packages in packages.txt, stripped and `docker import`ed as
# kyoka/sandbox-base, then thin per-service images on top (docker build
# --network none, legacy builder syntax only).
#
# Cached: every image carries the label kyoka.images.hash, a hash of the
# package list, the credentials and every file under images/ (the MongoDB
# decoy's sources included). When all images carry the current hash this
# script does nothing. KYOKA_IMAGES_FORCE=1 rebuilds; KYOKA_DEBIAN_MIRROR
# picks the mirror.
set -euo pipefail
cd "$(dirname "$0")"
images_dir=$(pwd)
services=(ssh ftp rsync mysql redis http mongo)
mirror=${KYOKA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${KYOKA_DEBIAN_SUITE:-bookworm}

command -v docker >/dev/null || { echo "build.sh: docker not found" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build.sh: the Docker engine is not reachable" >&2; exit 1; }
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi

# Hash of everything an image is made from (the base alone: packages.txt).
base_hash=$( (echo "$suite"; grep -v '^#' packages.txt) | sha256sum | cut -c1-16)
all_hash=$( (echo "$base_hash"; find . -type f ! -name "*.bin" ! -name "*.swp" -print0 \
    | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)

label_of() { docker image inspect "$1" --format '{{index .Config.Labels "kyoka.images.hash"}}' 2>/dev/null || true; }

current=1
for s in "${services[@]}"; do
    [ "$(label_of "kyoka/sandbox-$s:latest")" = "$all_hash" ] || current=0
done
if [ "$current" = 1 ] && [ "${KYOKA_IMAGES_FORCE:-0}" != 1 ]; then
    echo "sandbox images are current ($all_hash)"
    exit 0
fi
start=$(date +%s)

# 1. The base root, only when the package list changed.
if [ "$(label_of kyoka/sandbox-base:latest)" != "$base_hash" ] || [ "${KYOKA_IMAGES_FORCE:-0}" = 1 ]; then
    command -v debootstrap >/dev/null || { echo "build.sh: debootstrap not found (scripts/deps.sh installs it)" >&2; exit 1; }
    root=$(mktemp -d /var/tmp/kyoka-root.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    include=$(grep -v '^#' packages.txt | grep -v '^$' | paste -sd, -)
    echo "debootstrap $suite with $include" >&2
    debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
        || { tail -30 "$root.log" >&2; exit 1; }
    rm -f "$root.log"
    # No host keys, no machine id, no preloads in the base: every sandbox
    # gets its own at pre-create time.
    rm -f "$root"/etc/ssh/ssh_host_* "$root"/etc/ld.so.preload "$root"/etc/machine-id
    rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,linda} "$root"/var/cache/apt/* \
        "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
    tar -C "$root" -c . | docker import \
        --change "LABEL kyoka.images.hash=$base_hash" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - kyoka/sandbox-base:latest >/dev/null
    rm -rf "$root"
    trap - EXIT
    echo "base imported in $(( $(date +%s) - start )) s" >&2
fi

# 2. The MongoDB decoy: a binary of this workspace, copied into its image.
cargo build --quiet -p mongo-decoy --release
target=${CARGO_TARGET_DIR:-$images_dir/../target}
install -m 0755 "$target/release/mongo-decoy" mongo/mongo-decoy.bin

# 3. The shared layer (users from credentials.txt), then one thin image per service.
# The legacy builder's deprecation notice is noise; errors are shown.
build() {
    local out
    out=$(DOCKER_BUILDKIT=0 docker build --quiet --network none --label "kyoka.images.hash=$all_hash" \
        -t "$1" -f "$2/Dockerfile" . 2>&1 >/dev/null) || { echo "$out" >&2; return 1; }
}
build kyoka/sandbox-common:latest common
for s in "${services[@]}"; do
    build "kyoka/sandbox-$s:latest" "$s"
done
rm -f mongo/mongo-decoy.bin
docker image prune -f --filter label=kyoka.images.hash >/dev/null 2>&1 || true
echo "sandbox images built ($all_hash) in $(( $(date +%s) - start )) s"
