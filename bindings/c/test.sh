#!/usr/bin/env bash
# Tests the C binding against a built libstatus: compiles example.c and
# test_libstatus.c (shared and static), checks the header compiles as C++,
# installs into a temporary prefix and consumes it through pkg-config and CMake
# (config package, FindLibstatus module, pkg_check_modules), and runs the tests
# under valgrind (zero definite leaks, zero invalid reads/writes).
#
#   bindings/c/test.sh            # after `cargo build` at the repository root
#
# Environment:
#   LIBSTATUS_LIB_DIR      where libstatus.so and libstatus.a are (default: target/debug)
#   LIBSTATUS_INCLUDE_DIR  where libstatus.h is (default: include)
#   LIBSTATUS_SKIP_VALGRIND=1  skip the valgrind runs (about a minute each)
#   LIBSTATUS_TEST_ROUNDS  rounds per thread in the threads check (default 25; 4 under valgrind)
#   VALGRIND_EXTRA         extra valgrind options, e.g. --track-origins=yes
# Needs (Debian): gcc g++ make pkg-config valgrind cmake  (cmake steps are skipped
# if cmake is missing; valgrind steps fail if valgrind is missing).
# Prints one line per step and ends with "N passed, M failed[, K skipped]".
set -uo pipefail

# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh" c libstatus.so libstatus.a libstatus.h
build=$work/build

make_c() { make -s -C "$here" BUILD="$build" CFLAGS="-g -O1 -Wall -Wextra -Werror -std=c11 -pedantic" "$@"; }

step "build example, test (shared + static) with -Wall -Wextra -Werror -pedantic" make_c all
step "libstatus.h compiles as C++17 (extern \"C\" guards)" make_c header-cxx
step "test_libstatus against libstatus.so" run_checked "$build/test_libstatus"
step "test_libstatus against libstatus.a" run_checked "$build/test_libstatus_static"
step "test_libstatus_static does not load libstatus.so" \
    bash -c "! ldd '$build/test_libstatus_static' | grep -q 'libstatus\\.so'"
step "example runs" "$build/example" "$work/example-data"

# ---- install, pkg-config, CMake -------------------------------------------
prefix=$work/prefix
step "make install PREFIX=<temp> (scripts/install: lib, header, libstatus.pc, CMake config)" \
    make -s -C "$here" install PREFIX="$prefix"
installed_layout() { # the versioned file, its soname symlinks, DT_SONAME
    [ "$(readlink "$prefix/lib/libstatus.so")" = libstatus.so.0 ] &&
        [ "$(readlink "$prefix/lib/libstatus.so.0")" = "libstatus.so.$version" ] &&
        [ -f "$prefix/lib/libstatus.so.$version" ] && [ -f "$prefix/lib/libstatus.a" ] &&
        readelf -d "$prefix/lib/libstatus.so.$version" | grep -F 'Library soname: [libstatus.so.0]'
}
version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
step "installed: libstatus.so.$version, libstatus.so.0 and libstatus.so symlinks, DT_SONAME libstatus.so.0" \
    installed_layout
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
step "pkg-config --validate libstatus" pkg-config --validate libstatus
step "pkg-config reports the prefix's paths" bash -c '
    [ "$(pkg-config --variable=libdir libstatus)" = "'"$prefix"'/lib" ] &&
    [ "$(pkg-config --variable=includedir libstatus)" = "'"$prefix"'/include" ] &&
    pkg-config --libs libstatus | grep -q -- "-lstatus"'
step "example builds with \$(pkg-config --cflags --libs libstatus), needs libstatus.so.0, runs from the prefix alone" bash -c '
    cc -Wall -Werror '"$here"'/example.c $(pkg-config --cflags --libs libstatus) -o '"$work"'/example-pc &&
    readelf -d '"$work"'/example-pc | grep -F "Shared library: [libstatus.so.0]" &&
    LD_LIBRARY_PATH='"$prefix"'/lib '"$work"'/example-pc '"$work"'/example-pc-data'
step "gen-pc.sh writes a .pc for another prefix" bash -c '
    '"$here"'/gen-pc.sh /opt/status '"$work"'/other/libstatus.pc >/dev/null &&
    [ "$(PKG_CONFIG_PATH='"$work"'/other pkg-config --variable=libdir libstatus)" = /opt/status/lib ]'

cmake_case() { # NAME ARGS...: configure, build and run cmake-example
    local name=$1 dir=$work/cmake-$1; shift
    cmake -S "$here/cmake-example" -B "$dir" "$@" >/dev/null &&
        cmake --build "$dir" &&
        { [ "$name" = static ] || readelf -d "$dir/libstatus_example" | grep -F "Shared library: [libstatus.so.0]"; } &&
        env -u LD_LIBRARY_PATH "$dir/libstatus_example" "$dir/data"   # CMake's RPATH alone finds it
}
cmake_static_case() {
    cmake_case static -DLIBSTATUS_FIND=CONFIG -DLIBSTATUS_STATIC=ON -DCMAKE_PREFIX_PATH="$prefix" &&
        ! ldd "$work/cmake-static/libstatus_example" | grep -q 'libstatus\.so'
}
cmake_version_rejected() {
    mkdir -p "$work/cmake-v" &&
        printf 'cmake_minimum_required(VERSION 3.16)\nproject(v C)\nfind_package(libstatus 9.0 CONFIG REQUIRED)\n' \
            >"$work/cmake-v/CMakeLists.txt" &&
        ! cmake -S "$work/cmake-v" -B "$work/cmake-v/b" -DCMAKE_PREFIX_PATH="$prefix"
}
cmake_version_accepted() { # the crate's own MAJOR.MINOR must be accepted
    local v
    v=$(sed -n 's/^version *= *"\([0-9]*\.[0-9]*\).*"/\1/p' "$root/Cargo.toml" | head -n1)
    [ -n "$v" ] || return 1
    mkdir -p "$work/cmake-v2" &&
        printf 'cmake_minimum_required(VERSION 3.16)\nproject(v C)\nfind_package(libstatus %s CONFIG REQUIRED)\nmessage(STATUS "found libstatus ${libstatus_VERSION}")\n' "$v" \
            >"$work/cmake-v2/CMakeLists.txt" &&
        cmake -S "$work/cmake-v2" -B "$work/cmake-v2/b" -DCMAKE_PREFIX_PATH="$prefix"
}
cmake_module_case() { # from the source checkout, without pkg-config's help
    (unset PKG_CONFIG_PATH; cmake_case module -DLIBSTATUS_FIND=MODULE -DLIBSTATUS_ROOT="$root" \
        -DLIBSTATUS_LIB_DIR="$LIBSTATUS_LIB_DIR" -DLIBSTATUS_INCLUDE_DIR="$LIBSTATUS_INCLUDE_DIR")
}
if command -v cmake >/dev/null 2>&1; then
    step "CMake find_package(libstatus CONFIG) -> libstatus::libstatus" \
        cmake_case config -DLIBSTATUS_FIND=CONFIG -DCMAKE_PREFIX_PATH="$prefix"
    step "CMake find_package(libstatus CONFIG) -> libstatus::static (no libstatus.so loaded)" cmake_static_case
    step "CMake find_package(libstatus 9.0) is rejected by the version file" cmake_version_rejected
    step "CMake find_package(libstatus <Cargo.toml MAJOR.MINOR>) is accepted" cmake_version_accepted
    step "CMake find_package(Libstatus) via FindLibstatus.cmake from the build tree" cmake_module_case
    step "CMake pkg_check_modules(IMPORTED_TARGET libstatus)" \
        cmake_case pkgconfig -DLIBSTATUS_FIND=PKGCONFIG
else
    skip_step "CMake steps (cmake not installed: apt-get install -y cmake)"
fi

# ---- valgrind ----------------------------------------------------------------
vg() {
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --num-callers=40 ${VALGRIND_EXTRA:-} \
        --suppressions="$here/valgrind.supp" --gen-suppressions=all \
        "$@"
}
vg_check() { # runs under valgrind; passes if exit 0, summary ok, and valgrind saw no errors
    LIBSTATUS_TEST_ROUNDS=${LIBSTATUS_TEST_ROUNDS:-4} vg "$@" >"$work/out.txt" 2>"$work/vg.txt"; local rc=$?
    cat "$work/out.txt"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:' "$work/vg.txt"
    if [ $rc -ne 0 ]; then grep -v '^$' "$work/vg.txt" | tail -n 120; return 1; fi
    grep -q 'ERROR SUMMARY: 0 errors' "$work/vg.txt" || return 1
    case "$(basename "$1")" in test_*) summary_ok "$work/out.txt" ;; esac
}
if [ "${LIBSTATUS_SKIP_VALGRIND:-0}" = 1 ]; then
    skip_step "valgrind (LIBSTATUS_SKIP_VALGRIND=1)"
elif ! command -v valgrind >/dev/null 2>&1; then
    fail=$((fail + 1)); echo "FAIL - valgrind not installed (apt-get install -y valgrind)"
else
    step "valgrind: test_libstatus (shared): no leaks, no invalid access" vg_check "$build/test_libstatus"
    step "valgrind: test_libstatus (static): no leaks, no invalid access" vg_check "$build/test_libstatus_static"
fi

finish
