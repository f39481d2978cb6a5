#!/usr/bin/env bash
# Tests the iOS binding (SGLibStatus) on Linux with gcc's Objective-C and GNUstep
# Foundation: builds SGLibStatus.m with warnings as errors, checks it also compiles
# as ARC code with clang (when clang is installed), builds test_SGLibStatus.m
# against libstatus.so and runs it (the test verifies every answer is handed to
# Free exactly once), and checks build-xcframework.sh (which only runs on macOS).
#
#   bindings/ios/test.sh          # after `cargo build` at the repository root
#
# Environment:
#   LIBSTATUS_LIB_DIR      where libstatus.so is (default: target/debug)
#   LIBSTATUS_INCLUDE_DIR  where libstatus.h is (default: include)
# Needs (Debian): gobjc gnustep-base-common libgnustep-base-dev (gnustep-config);
#   optional: clang (ARC/MRC compile checks; skipped without it)
# Prints one line per step and ends with "N passed, M failed[, K skipped]".
set -uo pipefail

# shellcheck source=../test-lib.sh
. "$(dirname "$0")/../test-lib.sh" ios libstatus.so libstatus.h

if ! command -v gnustep-config >/dev/null 2>&1; then
    echo "gnustep-config not found (apt-get install -y gobjc gnustep-base-common libgnustep-base-dev)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# GNUstep's own headers trip -Wexpansion-to-defined under -Wextra; nothing else is excused.
objc_flags="$(gnustep-config --objc-flags) -std=gnu11 -Wall -Wextra -Wno-expansion-to-defined -Werror"
base_libs=$(gnustep-config --base-libs)

step "gcc -x objective-c SGLibStatus.m (GNUstep, MRC, -Wall -Wextra -Werror)" \
    gcc -x objective-c $objc_flags -I"$include_dir" -c "$here/SGLibStatus.m" -o "$work/SGLibStatus.o"

arc_check() { # -fobjc-arc or -fno-objc-arc
    # GNUstep's headers do not parse under clang with gcc's runtime, so this checks
    # against arc-check/Foundation/Foundation.h, a stub with Apple's signatures.
    clang -x objective-c -fsyntax-only "$1" -fblocks -fobjc-runtime=ios-13.0 -Wall -Wextra -Werror \
        -I"$here/arc-check" -I"$include_dir" "${2:-$here/SGLibStatus.m}"
}
if command -v clang >/dev/null 2>&1; then
    step "clang -fobjc-arc -fsyntax-only SGLibStatus.m (Apple's ARC path; stub Foundation)" arc_check -fobjc-arc
    step "clang -fno-objc-arc -fsyntax-only SGLibStatus.m (Apple's MRC path; stub Foundation)" arc_check -fno-objc-arc
    # The host's transport over NSURLSession: compiled, not run. Debian's
    # gnustep-base is built without NSURLSession (GS_HAVE_NSURLSESSION 0 in
    # GSConfig.h: no libcurl, no libdispatch), so there is nothing to run it on
    # here; its loop is the Android and React Native senders' (run there).
    step "clang -fobjc-arc -fsyntax-only SGPanicReportSender.m (NSURLSession; stub Foundation)" \
        arc_check -fobjc-arc "$here/SGPanicReportSender.m"
else
    skip_step "clang ARC/MRC checks (clang not installed: apt-get install -y clang)"
fi

# --no-as-needed: the test defines the library's symbols itself (its answer ledger)
# and forwards to libstatus.so through dlsym(RTLD_NEXT), so the linker must keep it.
step "build test_SGLibStatus.m against libstatus.so" bash -c '
    gcc -x objective-c '"$objc_flags"' -I"$1" -I"$2" -c "$2/test_SGLibStatus.m" -o "$3/test.o" &&
    gcc -o "$3/test_SGLibStatus" "$3/test.o" "$3/SGLibStatus.o" -L"$4" -Wl,-rpath,"$4" \
        -Wl,--no-as-needed -lstatus -Wl,--as-needed -ldl -lpthread '"$base_libs" \
    _ "$include_dir" "$here" "$work" "$lib_dir"

run_test() {
    "$work/test_SGLibStatus" >"$work/out.txt" 2>"$work/err.txt"; local rc=$?
    cat "$work/out.txt"
    grep -v '^$' "$work/err.txt" | tail -n 20 | sed 's/^/stderr: /'
    [ $rc -eq 0 ] && tail -n 1 "$work/out.txt" | grep -Eq '^[1-9][0-9]* passed, 0 failed$'
}
step "test_SGLibStatus (NSError mapping, panic, non-BMP, NSThreads, every answer freed once)" run_test

xcframework_check() {
    bash -n "$here/build-xcframework.sh" || return 1
    if [ "$(uname -s)" = Darwin ]; then
        "$here/build-xcframework.sh"
    else
        # Off macOS it must refuse clearly rather than half-build.
        if "$here/build-xcframework.sh" 2>"$work/xc.txt"; then echo "ran off macOS"; return 1; fi
        cat "$work/xc.txt"
        grep -q 'needs macOS' "$work/xc.txt"
    fi
}
step "build-xcframework.sh parses (and builds on macOS / refuses elsewhere)" xcframework_check

finish
