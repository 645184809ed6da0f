#!/usr/bin/env bash
# Build the regscan container image as an OCI image layout, without a container engine.
#
#   deploy/container/build.sh OUT [--binary PATH] [--tag TAG]
#
# The image is the one deploy/container/Dockerfile describes: the regscan binary in
# /usr/local/bin, the shared libraries it links (as `ldd` lists them) with their dpkg metadata in
# /var/lib/dpkg/status.d (as distroless images keep it, so scanners see the runtime's packages),
# CA certificates, /etc/passwd and /etc/group entries for the non-root user 65532 ("nonroot"),
# /tmp and the data directory /var/lib/regscan (the working directory, where the default
# `sqlite://regscan.db` lands). No shell, no package manager. Assembled and configured with
# umoci; the layout can be pushed with `skopeo copy oci:OUT:TAG docker://HOST/REPO:TAG`.
#
# PATH defaults to a fresh `cargo build --release --locked` (also: REGSCAN_BINARY=PATH).
# TAG defaults to the binary's version. Annotations and labels: org.opencontainers.image.
# version, revision (`git rev-parse HEAD`, or REGSCAN_REVISION), source (REGSCAN_SOURCE_URL, or
# the git remote `origin`), title, created (the commit time, or SOURCE_DATE_EPOCH).
set -euo pipefail

usage() { echo "usage: $0 OUT [--binary PATH] [--tag TAG]" >&2; exit 2; }
die() { echo "build.sh: $*" >&2; exit 1; }

out=""
binary="${REGSCAN_BINARY:-}"
tag=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || usage; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        --tag) [ $# -ge 2 ] || usage; tag="$2"; shift 2 ;;
        --tag=*) tag="${1#--tag=}"; shift ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [ -z "$out" ] || usage; out="$1"; shift ;;
    esac
done
[ -n "$out" ] || usage

repo="$(cd "$(dirname "$0")/../.." && pwd)"
for tool in umoci ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (tests/run.sh installs umoci)"
done

if [ -z "$binary" ]; then
    (cd "$repo" && cargo build --release --locked --bin regscan) >&2
    binary="$repo/target/release/regscan"
fi
[ -x "$binary" ] || die "no executable regscan binary at $binary"

version="$("$binary" --version | awk '{print $2}')"
[ -n "$version" ] || die "$binary --version printed no version"
tag="${tag:-$version}"
revision="${REGSCAN_REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}"
source_url="${REGSCAN_SOURCE_URL:-$(git -C "$repo" remote get-url origin 2>/dev/null || echo unknown)}"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
else
    created="$(git -C "$repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null \
        || date -u +%Y-%m-%dT%H:%M:%SZ)"
fi
uid=65532

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{etc/ssl/certs,usr/local/bin,var/lib/dpkg/status.d,var/lib/regscan,tmp,home/nonroot}

install -m 0755 "$binary" "$root/usr/local/bin/regscan"

# The shared libraries and the dynamic loader, each at the path the binary asks for (copied
# through symlinks), and the dpkg stanza of the package that ships each.
declare -A packages=()
libs="$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)"
[ -n "$libs" ] || die "ldd listed no libraries for $binary (a static binary needs none: remove this check)"
for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
    if command -v dpkg-query >/dev/null 2>&1; then
        real="$(readlink -f "$lib")"
        for candidate in "$lib" "$real" "/usr$lib" "/usr$real" "${real#/usr}"; do
            pkg="$(dpkg-query -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
            if [ -n "$pkg" ]; then packages["$pkg"]=1; break; fi
        done
    fi
done

# CA certificates (rustls reads the system store through the usual paths).
bundle=""
for c in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    [ -f "$c" ] && { bundle="$c"; break; }
done
[ -n "$bundle" ] || die "no CA certificate bundle on this machine (install ca-certificates)"
install -m 0644 "$bundle" "$root/etc/ssl/certs/ca-certificates.crt"
command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W ca-certificates >/dev/null 2>&1 && packages[ca-certificates]=1

if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${!packages[@]}"; do
        name="${pkg%%:*}"
        dpkg-query -s "$pkg" | grep -v '^Status:' > "$root/var/lib/dpkg/status.d/$name"
        if [ -f "/usr/share/doc/$name/copyright" ]; then
            mkdir -p "$root/usr/share/doc/$name"
            cp -L "/usr/share/doc/$name/copyright" "$root/usr/share/doc/$name/copyright"
        fi
    done
fi
[ -f /etc/os-release ] && cp -L /etc/os-release "$root/etc/os-release"

cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:regscan:/home/nonroot:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<GROUP
root:x:0:
nonroot:x:$uid:
GROUP
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
chmod 1777 "$root/tmp"
chmod 0755 "$root/var/lib/regscan" "$root/home/nonroot"

rootless=()
if [ "$(id -u)" -eq 0 ]; then
    chown -R 0:0 "$root"
    chown "$uid:$uid" "$root/var/lib/regscan" "$root/home/nonroot"
else
    # Without root the files cannot be owned by 65532: the data directory is world-writable
    # instead (sticky), so the non-root user can still create its database there.
    rootless=(--rootless)
    chmod 1777 "$root/var/lib/regscan" "$root/home/nonroot"
fi
# Reproducible timestamps.
find "$root" -exec touch -h -d "$created" {} +

rm -rf "$out"
umoci init --layout "$out"
umoci new --image "$out:$tag"
umoci insert "${rootless[@]}" --image "$out:$tag" \
    --history.created_by "deploy/container/build.sh" --history.created "$created" "$root" /
labels=(
    "org.opencontainers.image.title=regscan"
    "org.opencontainers.image.description=Security scanning dispatcher for OCI registries"
    "org.opencontainers.image.version=$version"
    "org.opencontainers.image.revision=$revision"
    "org.opencontainers.image.source=$source_url"
    "org.opencontainers.image.licenses=Apache-2.0"
    "org.opencontainers.image.created=$created"
)
args=()
for l in "${labels[@]}"; do args+=(--config.label "$l" --manifest.annotation "$l"); done
umoci config --image "$out:$tag" \
    --created "$created" --author "regscan" --os linux \
    --config.user "$uid:$uid" \
    --config.entrypoint regscan \
    --config.cmd serve \
    --config.workingdir /var/lib/regscan \
    --config.exposedports 8080/tcp \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.env REGSCAN_LISTEN=0.0.0.0:8080 \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --history.created_by "deploy/container/build.sh: config" --history.created "$created" \
    "${args[@]}"
umoci gc --layout "$out"
echo "$tag"
