#!/usr/bin/env bash
# The Debian package of this build tree: cpack packages the binary the build produced (no second
# build), the .deb is unpacked into a scratch root, and the test checks what an admin gets: layout,
# control metadata (shlibdeps, conffiles, maintainer scripts), the installed binary validating the
# shipped configuration, and the man page rendering without warnings and covering every command.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
# Scratch space inside the build tree: nothing is left in /tmp if ctest kills the test.
tmp="$build/package-test"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
has() { grep -q -- "$2" <<<"$1" || fail "$3: '$2' not found in:"$'\n'"$1"; }

# --- build the package ---------------------------------------------------------------------------
# Uncompressed: the one setting the test changes (xz of the sanitizer build takes minutes on CI).
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" \
    -D CPACK_DEBIAN_COMPRESSION_TYPE=none >"$tmp/cpack.log" 2>&1) ||
    { cat "$tmp/cpack.log"; fail "cpack failed"; }
debs=("$tmp"/out/bbb-cluster-proxy_*.deb)
[ "${#debs[@]}" = 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb in $tmp/out: ${debs[*]}"
deb=${debs[0]}
version=$(sed -n 's/^project(bbb-cluster-proxy VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "bbb-cluster-proxy_${version}-1_${arch}.deb" ] ||
    fail "file name $(basename "$deb")"

# --- control metadata ----------------------------------------------------------------------------
info=$(dpkg-deb -I "$deb")
has "$info" "^ Package: bbb-cluster-proxy$" "control"
has "$info" "^ Version: ${version}-1$" "control"
has "$info" "^ Architecture: ${arch}$" "control"
has "$info" "^ Section: net$" "control"
has "$info" "^ Maintainer: " "control"
depends=$(dpkg-deb -f "$deb" Depends)
# From dpkg-shlibdeps (the libraries the binary links), plus adduser for postinst.
for lib in libc6 libssl3 'libyaml-cpp0\.7' 'libstdc++6' adduser; do
    has "$depends" "$lib" "Depends"
done
dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = /etc/bbb-cluster-proxy/config.yaml ] ||
    fail "conffiles: $(cat "$tmp/control/conffiles")"
for s in postinst prerm postrm; do
    [ "$(stat -c %a "$tmp/control/$s")" = 755 ] || fail "$s is not mode 755"
    sh -n "$tmp/control/$s" || fail "$s: shell syntax"
    cmp -s "$tmp/control/$s" "$src/packaging/debian/$s" || fail "$s differs from packaging/debian/$s"
done
has "$(cat "$tmp/control/postinst")" "adduser --system" "postinst"

# --- contents and ownership ----------------------------------------------------------------------
listing=$(dpkg-deb -c "$deb")
for entry in "-rwxr-xr-x root/root .* ./usr/bin/bbb-cluster-proxy$" \
    "-rw-r--r-- root/root .* ./lib/systemd/system/bbb-cluster-proxy.service$" \
    "-rw-r--r-- root/root .* ./etc/bbb-cluster-proxy/config.yaml$" \
    "drwxr-xr-x root/root .* ./etc/bbb-cluster-proxy/tls/$" \
    "-rw-r--r-- root/root .* ./usr/share/man/man1/bbb-cluster-proxy.1.gz$" \
    "./usr/share/doc/bbb-cluster-proxy/operator-guide.md$" \
    "./usr/share/doc/bbb-cluster-proxy/config-reference.md$" \
    "./usr/share/doc/bbb-cluster-proxy/examples/minimal.yaml$"; do
    has "$listing" "$entry" "dpkg-deb -c"
done
# Nothing outside the Debian layout (no /usr/local, no build paths, no test binaries).
stray=$(awk '{print $6}' <<<"$listing" | grep -v -E '^\./($|usr/($|bin/|share/)|lib/($|systemd/)|etc/($|bbb-cluster-proxy/))' || true)
[ -z "$stray" ] || fail "unexpected paths: $stray"

root="$tmp/root"
dpkg-deb -x "$deb" "$root"
cmp -s "$root/etc/bbb-cluster-proxy/config.yaml" "$src/examples/config.yaml" ||
    fail "shipped config.yaml differs from examples/config.yaml"
cmp -s "$root/lib/systemd/system/bbb-cluster-proxy.service" "$src/packaging/bbb-cluster-proxy.service" ||
    fail "shipped unit differs from packaging/bbb-cluster-proxy.service"
grep -q '^ExecStart=/usr/bin/bbb-cluster-proxy serve ' "$root/lib/systemd/system/bbb-cluster-proxy.service" ||
    fail "the unit does not start the installed binary"

# --- the installed binary ------------------------------------------------------------------------
bin="$root/usr/bin/bbb-cluster-proxy"
if readelf -S "$bin" | grep -q '\.debug_info'; then fail "the packaged binary is not stripped"; fi
[ "$(ASAN_OPTIONS=detect_leaks=0 "$bin" version)" = "bbb-cluster-proxy $version" ] ||
    fail "version: $("$bin" version 2>&1)"

# The shipped configuration is valid except for the certificate the admin still has to provide.
conf="$root/etc/bbb-cluster-proxy/config.yaml"
set +e
out=$(ASAN_OPTIONS=detect_leaks=0 "$bin" check --config "$conf" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "check without certificate: exit $rc: $out"
has "$out" "listen\[0\].tls.certificate: .*tls/fullchain.pem" "check without certificate"
has "$out" "listen\[0\].tls.private_key: .*tls/privkey.pem" "check without certificate"
others=$(grep -v -e 'listen\[0\]\.tls\.' -e ' error(s)$' <<<"$out" || true)
[ -z "$others" ] || fail "the shipped config has other problems: $others"
# ...and passes once a certificate and key are where the certbot hook of the guide puts them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bbb-proxy.example.com -keyout "$root/etc/bbb-cluster-proxy/tls/privkey.pem" \
    -out "$root/etc/bbb-cluster-proxy/tls/fullchain.pem" 2>/dev/null
out=$(ASAN_OPTIONS=detect_leaks=0 "$bin" check --config "$conf" 2>&1) ||
    fail "check of the shipped config with a certificate: $out"
has "$out" "config.yaml: OK (2 node(s), 2 listener(s))" "check"

# --- the man page --------------------------------------------------------------------------------
man_gz="$root/usr/share/man/man1/bbb-cluster-proxy.1.gz"
gzip -t "$man_gz" || fail "man page is not valid gzip"
zcat "$man_gz" | cmp -s - "$src/packaging/bbb-cluster-proxy.1" || fail "man page differs from source"
if command -v man >/dev/null; then
    rendered=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$man_gz" 2>"$tmp/man.err") ||
        fail "man -l failed: $(cat "$tmp/man.err")"
elif command -v groff >/dev/null; then
    rendered=$(zcat "$man_gz" | groff -man -Tutf8 -ww 2>"$tmp/man.err") ||
        fail "groff failed: $(cat "$tmp/man.err")"
else
    fail "neither man nor groff is installed (scripts/install-deps installs man-db)"
fi
[ ! -s "$tmp/man.err" ] || fail "man page warnings: $(cat "$tmp/man.err")"
has "$rendered" "BBB-CLUSTER-PROXY(1)" "rendered man page"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS SIGNALS ENVIRONMENT FILES "EXIT STATUS"; do
    has "$rendered" "^$section$" "man page sections"
done
# Every command and option the binary knows is in the man page (a new one fails here until it
# is documented).
commands() { # the subcommand names listed by `--help` of the given command
    ASAN_OPTIONS=detect_leaks=0 "$bin" "$@" --help |
        awk '/^Subcommands:/ {on=1; next} on && /^  [a-z]/ {print $1}'
}
options() { # the long options listed by `--help` of the given command
    ASAN_OPTIONS=detect_leaks=0 "$bin" "$@" --help | grep -o -e '--[a-z][a-z-]*' | sort -u
}
page=$(zcat "$man_gz")
check_command() {
    local name="$*"
    grep -q -- "^\.B ${name//-/\\\\-}$" <<<"$page" ||
        fail "command '$name' is not documented: add a '.B ${name//-/\\-}' entry under COMMANDS in packaging/bbb-cluster-proxy.1"
    for opt in $(options "$@"); do
        grep -q -- "${opt//-/\\\\-}" <<<"$page" ||
            fail "option $opt of '$name' is not documented in packaging/bbb-cluster-proxy.1"
    done
}
for c in $(commands); do
    sub=$(commands "$c")
    if [ -n "$sub" ]; then
        for s in $sub; do check_command "$c" "$s"; done
    else
        check_command "$c"
    fi
done
echo "PASS: $(basename "$deb") ($(du -h "$deb" | cut -f1))"
