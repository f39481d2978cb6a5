# Shared by bindings/*/test.sh (sourced, not run): where the built library is,
# a scratch folder, and the step counter every binding test reports with.
#
#   . "$(dirname "$0")/../test-lib.sh" NAME FILE...
#
# FILE: a file of the build the test needs (libstatus.so, libstatus.a: looked
# for in the library folder; libstatus.h: in the include folder).
#
# Sets: here root lib_dir include_dir work log, LIBSTATUS_LIB_DIR,
# LIBSTATUS_INCLUDE_DIR, LD_LIBRARY_PATH, TMPDIR (the tests' dataDirs go there).
# Environment: LIBSTATUS_LIB_DIR (default target/debug), LIBSTATUS_INCLUDE_DIR
# (default include), VERBOSE=1 to show every step's output.
# Provides: step NAME CMD..., skip_step NAME, summary_ok FILE, run_checked CMD..., finish.

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib_dir=$(cd "${LIBSTATUS_LIB_DIR:-$root/target/debug}" 2>/dev/null && pwd || echo "${LIBSTATUS_LIB_DIR:-$root/target/debug}")
include_dir=${LIBSTATUS_INCLUDE_DIR:-$root/include}
export LIBSTATUS_LIB_DIR=$lib_dir LIBSTATUS_INCLUDE_DIR=$include_dir
export LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

_binding=$1
shift
for f in "$@"; do
    case "$f" in *.h) f=$include_dir/$f ;; *) f=$lib_dir/$f ;; esac
    if [ ! -f "$f" ]; then
        echo "missing $f: run \`cargo build\` in $root first (or set LIBSTATUS_LIB_DIR / LIBSTATUS_INCLUDE_DIR)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

work=$(mktemp -d "/tmp/libstatus-$_binding-binding.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work
pass=0 fail=0 skip=0
log=$work/step.log

# step NAME CMD...: runs CMD, counts it, shows its output only on failure.
step() {
    local name=$1; shift
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        pass=$((pass + 1))
        echo "ok - $name ($((SECONDS - t0))s)"
        [ "${VERBOSE:-0}" = 1 ] && sed 's/^/    /' "$log"
    else
        fail=$((fail + 1))
        echo "FAIL - $name ($((SECONDS - t0))s)"
        sed 's/^/    /' "$log" | tail -n 80
    fi
    return 0
}
skip_step() { skip=$((skip + 1)); echo "skip - $1"; }

# summary_ok FILE: its last line is "N passed, 0 failed" with N > 0.
summary_ok() { tail -n 1 "$1" | grep -Eq '^[1-9][0-9]* passed, 0 failed$'; }

# run_checked CMD...: runs a test program; passes when it exits 0 and its
# last line is "N passed, 0 failed".
run_checked() {
    "$@" >"$work/out.txt" 2>"$work/err.txt"; local rc=$?
    cat "$work/out.txt"
    grep -v '^$' "$work/err.txt" | tail -n 20 | sed 's/^/stderr: /'
    [ $rc -eq 0 ] && summary_ok "$work/out.txt"
}

# finish: the closing line, and the exit status.
finish() {
    echo "$pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
    [ "$fail" -eq 0 ]
}
