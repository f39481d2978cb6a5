#!/usr/bin/env bash
# The Java binding (bindings/android) against the real library, on a desktop
# JVM: builds libstatus.so with the JNI glue (cargo feature `jni`, into the
# normal target dir), compiles the Java sources and the test with javac, and
# runs the test with -Xcheck:jni. Needs: cargo, a JDK 17+ (Debian:
# apt-get install -y openjdk-17-jdk-headless). No Gradle, no JUnit, no network.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

for tool in cargo javac java; do
    command -v "$tool" >/dev/null || { echo "test.sh: $tool is needed (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 2; }
done

cargo build --all-features   # the JNI glue (feature jni); the same feature set scripts/test builds
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
lib_dir="${target_dir:-$root/target}/debug"
if ! nm -D --defined-only "$lib_dir/libstatus.so" | grep -q ' T Java_im_status_libstatus_LibStatus_nativeIntendedPanic$'; then
    echo "test.sh: $lib_dir/libstatus.so has no JNI exports" >&2
    exit 1
fi

classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac -Xlint:all -Werror -encoding UTF-8 -d "$classes" \
    $(find "$here/src/main/java" "$here/src/test/java" -name '*.java' | sort)

# -Xcheck:jni: the JVM validates every JNI call the glue makes.
# -Xmx96m: bounds the Java heap so the leak check measures native memory.
# The library chains Rust's default panic hook, which prints every (intended)
# panic to stderr: that goes to a log, shown only when the test fails.
log="$classes/stderr.log"
status=0
RUST_BACKTRACE=0 java -Xcheck:jni -Xmx96m -Dfile.encoding=UTF-8 -Djava.library.path="$lib_dir" \
    -cp "$classes" im.status.libstatus.LibStatusTest 2>"$log" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- java stderr (last 60 lines) ---"
    tail -n 60 "$log"
    exit "$status"
fi

# The host's transport (PanicReportSender): a process of its own (the library
# keeps one state per process), reporting from a reported environment to a
# receiver on loopback.
RUST_BACKTRACE=0 SENTRY_ENVIRONMENT=ci-main java -Xcheck:jni -Dfile.encoding=UTF-8 -Djava.library.path="$lib_dir" \
    -cp "$classes" im.status.libstatus.PanicReportSenderTest 2>"$log" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- java stderr (last 60 lines) ---"
    tail -n 60 "$log"
    exit "$status"
fi
