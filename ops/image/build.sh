#!/usr/bin/env bash
# `npm run image`: builds millrace:<version> and millrace-nats:<version> without a registry.
#
# The Dockerfile's base is made here from this machine's own Node binary and the shared
# libraries it and the package's native addons load, in an image imported from a folder (no
# shell, no package manager); the nats-server image is made the same way from Debian's
# nats-server. Set NODE_IMAGE to build on a registry image instead (node:20-bookworm-slim).
# Prints one JSON line with the tags and the seconds it took.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
version=$(node -p 'require("./package.json").version')
docker=${DOCKER:-docker}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every library a binary loads (ldd's resolved paths and the loader itself).
libraries() {
  ldd "$@" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/.*ld-linux/ { print $1 }' | sort -u
}

# A root file system holding the given binaries and their libraries, plus the users of the
# official images (root, and node as uid 1000) and a /tmp.
make_rootfs() {
  local root=$1
  shift
  mkdir -p "$root/etc" "$root/tmp"
  chmod 1777 "$root/tmp"
  local file
  for file in "$@" $(libraries "$@"); do
    mkdir -p "$root$(dirname "$file")"
    cp -L "$file" "$root$file"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000::/home/node:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

echo "building the package" >&2
npm run build --silent
npm pack --silent --pack-destination "$work" >/dev/null
mkdir -p "$work/context"
tar -xzf "$work"/millrace-*.tgz -C "$work/context"
mv "$work/context/package" "$work/context/app"
cp package-lock.json "$work/context/app/"
(cd "$work/context/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
rm "$work/context/app/package-lock.json"

node_image=${NODE_IMAGE:-}
if [ -z "$node_image" ]; then
  node_version=$(node -p 'process.versions.node')
  node_image="millrace-node-base:${node_version}"
  echo "making ${node_image} from $(command -v node)" >&2
  mapfile -t addons < <(find "$work/context/app/node_modules" -name '*.node' -type f)
  make_rootfs "$work/node-root" "$(readlink -f "$(command -v node)")"
  for lib in $(libraries "${addons[@]}"); do
    mkdir -p "$work/node-root$(dirname "$lib")"
    cp -L "$lib" "$work/node-root$lib"
  done
  tar -C "$work/node-root" -c . | "$docker" import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    - "$node_image" >/dev/null
fi

echo "building millrace:${version} on ${node_image}" >&2
"$docker" build --quiet --build-arg "NODE_IMAGE=${node_image}" \
  --label "org.opencontainers.image.version=${version}" \
  -t "millrace:${version}" -f ops/image/Dockerfile "$work/context" >/dev/null

# An image of one binary: its root file system with a data directory, the binary as entrypoint.
binary_image() {
  local tag=$1 binary=$2 data=$3 ports=$4
  local root="$work/root-${tag%%:*}"
  make_rootfs "$root" "$binary"
  mkdir -p "$root$data"
  tar -C "$root" -c . | "$docker" import \
    --change "ENTRYPOINT [\"${binary}\"]" \
    --change "EXPOSE ${ports}" \
    --change "LABEL org.opencontainers.image.version=${version}" \
    - "$tag" >/dev/null
}

nats=$(command -v nats-server)
echo "making millrace-nats:${version} from ${nats} ($(nats-server --version))" >&2
binary_image "millrace-nats:${version}" "$nats" /data '4222 6222 8222'
images="\"millrace:${version}\",\"millrace-nats:${version}\""

# Prometheus from Debian's package, for running ops/compose/cluster.yml where no registry is
# reachable (PROMETHEUS_IMAGE=millrace-prometheus:<version>).
if prometheus=$(command -v prometheus); then
  echo "making millrace-prometheus:${version} from ${prometheus}" >&2
  binary_image "millrace-prometheus:${version}" "$prometheus" /prometheus 9090
  images="${images},\"millrace-prometheus:${version}\""
fi

echo "{\"images\":[${images}],\"base\":\"${node_image}\",\"seconds\":$(($(date +%s) - started))}"
