#!/usr/bin/env bash
# Generates libstatus.pc from libstatus.pc.in for an install prefix.
#
#   bindings/c/gen-pc.sh PREFIX [OUTPUT] [LIBDIR] [INCLUDEDIR]
#
# PREFIX      where libstatus is (or will be) installed, e.g. /usr/local
# OUTPUT      path of the generated file (default: ./libstatus.pc)
# LIBDIR      default: ${exec_prefix}/lib   (literal, so the .pc stays relocatable
# INCLUDEDIR  default: ${prefix}/include     with pkg-config --define-prefix)
# Environment: VERSION (default: read from the root Cargo.toml),
#              LIBS_PRIVATE (default: what Rust's std needs on this OS).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 PREFIX [OUTPUT] [LIBDIR] [INCLUDEDIR]" >&2
    exit 2
fi
prefix=$1
out=${2:-libstatus.pc}
libdir=${3:-'${exec_prefix}/lib'}
includedir=${4:-'${prefix}/include'}
version=${VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" 2>/dev/null | head -n1)}
version=${version:-0.0.0}
if [ -z "${LIBS_PRIVATE:-}" ]; then
    # `cargo rustc --crate-type staticlib -- --print native-static-libs` prints the
    # exact list for a given toolchain; these are its usual answers.
    case "$(uname -s)" in
        Darwin) LIBS_PRIVATE="-framework CoreFoundation -framework Security -liconv -lSystem -lc -lm" ;;
        *)      LIBS_PRIVATE="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" ;;
    esac
fi
# '|' cannot appear in these values' sed replacement safely; reject it.
for v in "$prefix" "$libdir" "$includedir" "$version" "$LIBS_PRIVATE"; do
    case "$v" in *'|'*) echo "gen-pc.sh: '|' not allowed in: $v" >&2; exit 2 ;; esac
done
mkdir -p "$(dirname "$out")"
sed -e "s|@PREFIX@|$prefix|g" \
    -e "s|@LIBDIR@|$libdir|g" \
    -e "s|@INCLUDEDIR@|$includedir|g" \
    -e "s|@VERSION@|$version|g" \
    -e "s|@LIBS_PRIVATE@|$LIBS_PRIVATE|g" \
    "$here/libstatus.pc.in" > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
