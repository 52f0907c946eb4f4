#!/usr/bin/env bash
# Builds the Debian packages airgap-edge and airgap-relay with dpkg-deb, from this checkout,
# without the network: the binaries (Swift runtime linked statically, so hosts need no Swift),
# the systemd units, the configuration under /etc, the maintainer scripts that make the system
# users and state directories, and the documentation.
#
#   deploy/package.sh [--out DIR] [--binaries DIR]
#
#   --out DIR       where the .deb files go (default: .build-packages/)
#   --binaries DIR  package DIR/edge and DIR/relay as they are, without building
#
# The versions come from Sources/Wire/Version.swift. See deploy/README.md for installing.
set -euo pipefail
cd "$(dirname "$0")/.."

out=.build-packages
configuration=release
binaries=
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --binaries) binaries=$2; shift 2 ;;
        *) echo "usage: deploy/package.sh [--out DIR] [--binaries DIR]" >&2; exit 2 ;;
    esac
done

command -v dpkg-deb >/dev/null || { echo "dpkg-deb is needed (Debian's dpkg)" >&2; exit 1; }
version=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/Wire/Version.swift)
[ -n "$version" ] || { echo "no version in Sources/Wire/Version.swift" >&2; exit 1; }
architecture=$(dpkg --print-architecture)

if [ -z "$binaries" ]; then
    # SQLite is linked into the relay from Debian's libsqlite3.a (PRODUCT.md: "SQLite
    # (embedded)"), so the gateway needs no libsqlite3; zlib and the C/C++ runtimes are in every
    # Debian base system. GRDB links "sqlite3" by name, and the linker takes the first
    # directory that has it: a directory holding only libsqlite3.a goes first, through the one
    # pkg-config file the build reads (zlib's, otherwise unchanged).
    scratch=.build-static
    link=$PWD/$scratch/link
    mkdir -p "$link/pkgconfig"
    ln -sf "$(pkg-config --variable=libdir sqlite3)/libsqlite3.a" "$link/libsqlite3.a"
    [ -e "$link/libsqlite3.a" ] || { echo "libsqlite3.a is missing (apt-get install libsqlite3-dev)" >&2; exit 1; }
    sed "s|^Libs: |Libs: -L$link |" "$(pkg-config --variable=pcfiledir zlib)/zlib.pc" > "$link/pkgconfig/zlib.pc"
    for product in edge relay; do
        PKG_CONFIG_PATH=$link/pkgconfig swift build -c "$configuration" --product "$product" \
            --static-swift-stdlib --scratch-path "$scratch" 2>&1 | grep -v "warning: the use of .mktemp" | tail -n 1
    done
    binaries="$scratch/$configuration"
fi

# What a binary needs from the host: the Debian package of each shared library it links, and
# glibc at least as new as the newest symbol version it uses.
depends() {
    local binary=$1 libs=() glibc
    for library in $(objdump -p "$binary" | awk '/NEEDED/ {print $2}'); do
        case "$library" in
            libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;;
            libswift*|libFoundation*|lib_FoundationICU*|libdispatch*|libBlocksRuntime*)
                echo "$binary links the Swift runtime dynamically ($library): build with --static-swift-stdlib" >&2
                exit 1 ;;
        esac
        local path package
        path=$(ldconfig -p | awk -v l="$library" '$1 == l {print $NF; exit}')
        [ -n "$path" ] || { echo "$binary needs $library, which this host does not have" >&2; exit 1; }
        package=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) \
            || package=$(dpkg -S "$path" | head -n 1 | cut -d: -f1)
        libs+=("$package")
    done
    glibc=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    printf 'libc6 (>= %s)' "$glibc"
    for package in $(printf '%s\n' "${libs[@]}" | sort -u); do printf ', %s' "$package"; done
}

stage() {
    local product=$1 description=$2 root
    root=$(mktemp -d)
    chmod 0755 "$root"   # mktemp makes it 0700, and dpkg would give / that mode
    trap 'rm -rf "$root"' RETURN
    install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/$product" \
        "$root/usr/share/doc/airgap-$product" "$root/usr/share/airgap-$product/rules"
    install -m 0755 "$binaries/$product" "$root/usr/bin/$product"
    strip --strip-unneeded "$root/usr/bin/$product"
    install -m 0644 "deploy/systemd/$product.service" "$root/lib/systemd/system/"
    install -m 0644 "deploy/debian/$product/$product.yaml" "$root/etc/$product/"
    install -m 0644 deploy/rules/*.yaml "$root/usr/share/airgap-$product/rules/"
    install -m 0644 deploy/README.md "$root/usr/share/doc/airgap-$product/README.md"
    install -m 0644 docs/configuration.md docs/detection.md docs/operations.md docs/windows.md \
        "$root/usr/share/doc/airgap-$product/"
    if [ "$product" = relay ]; then
        install -d "$root/usr/share/doc/airgap-relay/rsyslog"
        install -m 0644 deploy/rsyslog/*.conf "$root/usr/share/doc/airgap-relay/rsyslog/"
    fi
    local store=
    [ "$product" = relay ] && store=", GRDB (MIT), SQLite (public domain)"
    cat > "$root/usr/share/doc/airgap-$product/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: airgap-alarm
Comment: Built from the airgap-alarm repository. The binary links the Swift runtime and its
 Swift package dependencies statically (Apache-2.0 with Runtime Library Exception: Swift,
 SwiftNIO, swift-crypto and BoringSSL (OpenSSL/ISC), swift-log, swift-metrics,
 swift-argument-parser, Yams (MIT)$store).
EOF
    for script in postinst prerm postrm; do
        install -m 0755 "deploy/debian/$product/$script" "$root/DEBIAN/$script"
    done
    echo "/etc/$product/$product.yaml" > "$root/DEBIAN/conffiles"
    local size
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    cat > "$root/DEBIAN/control" <<EOF
Package: airgap-$product
Version: $version
Architecture: $architecture
Maintainer: airgap-alarm developers <root@localhost>
Installed-Size: $size
Depends: $(depends "$root/usr/bin/$product"), passwd
Section: admin
Priority: optional
Homepage: file:///usr/share/doc/airgap-$product/README.md
Description: $description
EOF
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/airgap-${product}_${version}_${architecture}.deb" >/dev/null
    echo "$out/airgap-${product}_${version}_${architecture}.deb"
}

mkdir -p "$out"
stage edge "account-activity alarm: the edge agent for internal hosts
 Follows the host's auth logs (files or the journal) and Windows event logs, detects logins,
 brute force, su/sudo and account changes, and sends them to the relay as compressed frames
 signed with the edge's own key inside ordinary syslog. Needs no outbound HTTP."
stage relay "account-activity alarm: the relay for the gateway
 Receives edge frames and plain syslog (UDP, TCP, TLS), verifies and correlates them into
 incidents, asks a model inside the air gap for a short analysis, and delivers alerts to
 DingTalk, Feishu, WeCom and webhooks without losing one."
