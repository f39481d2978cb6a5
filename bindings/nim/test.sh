#!/usr/bin/env bash
# Tests the Nim binding (libstatus.nim) against a built libstatus: builds
# test_libstatus.nim with --threads:on under each Nim memory manager (refc, the
# Nim 1.6 default; arc; orc), linked to libstatus.so and, once, to libstatus.a;
# runs them; then runs them under valgrind (zero definite leaks, zero invalid
# reads/writes).
#
#   bindings/nim/test.sh          # after `cargo build` at the repository root
#
# Environment:
#   LIBSTATUS_LIB_DIR      where libstatus.so and libstatus.a are (default: target/debug)
#   LIBSTATUS_INCLUDE_DIR  where libstatus.h is (default: include)
#   LIBSTATUS_SKIP_VALGRIND=1  skip the valgrind runs (about a minute each)
#   LIBSTATUS_TEST_ROUNDS  rounds per thread in the threads check (default 25; 4 under valgrind)
#   VALGRIND_EXTRA         extra valgrind options, e.g. --track-origins=yes
#   NIM                    the nim compiler (default: nim)
# Needs (Debian): nim gcc valgrind
# Prints one line per step and ends with "N passed, M failed[, K skipped]".
set -uo pipefail

# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh" nim libstatus.so libstatus.a libstatus.h
nim=${NIM:-nim}

if ! command -v "$nim" >/dev/null 2>&1; then
    echo "nim not found (apt-get install -y nim)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

echo "# $("$nim" --version | head -n1)"

build() { # GC [extra nim flags...]: builds $work/test_<GC><suffix>
    local gc=$1 out=$2; shift 2
    "$nim" c --hints:off --warnings:on --threads:on --gc:"$gc" -d:useMalloc \
        --debugger:native --opt:none --stackTrace:on --lineTrace:on \
        -d:libstatusLibDir="$lib_dir" -d:libstatusHeader="$include_dir/libstatus.h" \
        --nimcache:"$work/nimcache-$(basename "$out")" -o:"$out" "$@" "$here/test_libstatus.nim"
}

for gc in refc arc orc; do
    step "nim c --threads:on --gc:$gc test_libstatus.nim (links libstatus.so, checked against libstatus.h)" \
        build "$gc" "$work/test_$gc"
    step "test_libstatus ($gc, libstatus.so)" run_checked "$work/test_$gc"
done
step "nim c --threads:on --gc:orc -d:libstatusStatic test_libstatus.nim (links libstatus.a)" \
    build orc "$work/test_static" -d:libstatusStatic
run_static() {
    if ldd "$1" | grep -q 'libstatus\.so'; then echo "$1 loads libstatus.so"; return 1; fi
    run_checked "$1"
}
step "test_libstatus (orc, libstatus.a; no libstatus.so loaded)" run_static "$work/test_static"
step "nim doc libstatus.nim (the module documents cleanly)" \
    "$nim" doc --hints:off --outdir:"$work/doc" -d:libstatusLibDir="$lib_dir" "$here/libstatus.nim"

vg_check() { # SUPP BINARY
    local supp=$1; shift
    LIBSTATUS_TEST_ROUNDS=${LIBSTATUS_TEST_ROUNDS:-4} valgrind --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=40 ${VALGRIND_EXTRA:-} \
        --suppressions="$root/bindings/c/valgrind.supp" ${supp:+--suppressions="$supp"} --gen-suppressions=all \
        "$@" >"$work/out.txt" 2>"$work/vg.txt"; local rc=$?
    cat "$work/out.txt"
    grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|suppressed:' "$work/vg.txt"
    if [ $rc -ne 0 ]; then grep -v '^$' "$work/vg.txt" | tail -n 150; return 1; fi
    grep -q 'ERROR SUMMARY: 0 errors' "$work/vg.txt" && summary_ok "$work/out.txt"
}
if [ "${LIBSTATUS_SKIP_VALGRIND:-0}" = 1 ]; then
    skip_step "valgrind (LIBSTATUS_SKIP_VALGRIND=1)"
elif ! command -v valgrind >/dev/null 2>&1; then
    fail=$((fail + 1)); echo "FAIL - valgrind not installed (apt-get install -y valgrind)"
else
    step "valgrind: test_libstatus (refc; its conservative stack scan suppressed): no leaks, no invalid access" \
        vg_check "$here/valgrind.supp" "$work/test_refc"
    step "valgrind: test_libstatus (arc): no leaks, no invalid access" vg_check "" "$work/test_arc"
    step "valgrind: test_libstatus (orc; Nim 1.6 ORC thread-exit leak suppressed): no leaks, no invalid access" \
        vg_check "$here/valgrind.supp" "$work/test_orc"
fi

finish
