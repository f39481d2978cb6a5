#!/usr/bin/env bash
# The React Native binding, checked on Linux without react-native itself:
#  1. npm ci (pinned: @react-native/codegen, typescript, koffi, @types/node);
#  2. @react-native/codegen generates the Android/C++/iOS interfaces from
#     src/NativeLibStatus.ts, and the hand-written modules implement them;
#  3. tsc --noEmit;
#  4. the typed and raw wrappers (src/index.ts) against the REAL
#     target/debug/libstatus.so through a koffi native module, with node:test,
#     as the new architecture (TurboModule) and the old one (NativeModules) give it;
#  5. the old-architecture native code compiles: javac for both Android source
#     sets, clang for RNLibStatus.mm without RCT_NEW_ARCH_ENABLED (both against
#     minimal stubs of the React Native classes they use).
# Needs: cargo, node >= 20.19.4, npm, the npm registry (for npm ci), javac, clang.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

for tool in cargo node npm; do
    command -v "$tool" >/dev/null || { echo "test.sh: $tool is needed" >&2; exit 2; }
done

(cd "$root" && cargo build --all-features)   # the feature set scripts/test builds: no relink between bindings
so="$root/target/debug/libstatus.so"
[ -f "$so" ] || { echo "test.sh: $so was not built" >&2; exit 1; }

cd "$here"
npm ci --no-audit --no-fund --loglevel=error

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "--- codegen"
node scripts/codegen-check.js "$work/codegen"

echo "--- tsc --noEmit"
npx --no-install tsc --noEmit -p .

echo "--- tests against $so"
npx --no-install tsc -p . --outDir "$work/build"
# A stand-in 'react-native' for Node. LIBSTATUS_RN_ARCH=new (the default):
# TurboModuleRegistry.get('LibStatus') returns the koffi native module over the
# real library and NativeModules is empty; =old: no TurboModule, the koffi
# module is NativeModules.LibStatus (the bridge).
mkdir -p "$work/build/node_modules/react-native"
cat >"$work/build/node_modules/react-native/index.js" <<'JS'
'use strict';
const { createKoffiNativeModule } = require('../../test/koffiNativeModule');
const oldArch = process.env.LIBSTATUS_RN_ARCH === 'old';
let libstatus;
function module() {
  libstatus ??= createKoffiNativeModule(process.env.LIBSTATUS_SO);
  return libstatus;
}
function get(name) {
  return name === 'LibStatus' && !oldArch ? module() : null;
}
exports.TurboModuleRegistry = {
  get,
  getEnforcing(name) {
    const found = get(name);
    if (!found) throw new Error(`TurboModuleRegistry.getEnforcing(...): '${name}' could not be found`);
    return found;
  },
};
exports.NativeModules = oldArch ? { LibStatus: module() } : {};
JS
log="$work/stderr.log"
pass=0
run_node() { # ARCH FILE: one node:test file; adds to $pass or fails the script
    local status=0 p f
    LIBSTATUS_SO="$so" LIBSTATUS_RN_ARCH="$1" RUST_BACKTRACE=0 NODE_PATH="$here/node_modules" \
        node --expose-gc --test-reporter=spec "$2" >"$work/out.txt" 2>"$log" || status=$?
    cat "$work/out.txt"
    p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$work/out.txt")
    f=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$work/out.txt")
    if [ "$status" -ne 0 ] || [ -z "$p" ] || [ "${f:-1}" != 0 ]; then
        echo "--- node stderr (last 60 lines)"
        tail -n 60 "$log"
        echo "$((pass + ${p:-0})) passed, ${f:-?} failed"
        exit 1
    fi
    pass=$((pass + p))
}
# The library chains Rust's default panic hook, which prints each (intended)
# panic to stderr: kept in a log, shown only on failure.
run_node new "$work/build/test/libstatus.test.js"
echo "--- tests of the old architecture's path (NativeModules.LibStatus)"
run_node old "$work/build/test/oldArch.test.js"
echo "--- the host's transport (PanicReportSender: fetch, AbortController)"
run_node new "$work/build/test/sender.test.js"

# The old architecture's native code, compiled against minimal stubs of the
# React Native classes it uses (test/java-stubs, test/objc-stubs: declarations
# only, just what these files touch; no React Native is installed here).
# One native method per method of the spec (src/NativeLibStatus.ts).
methods=$(grep -cE '^ +[a-zA-Z]+\([^)]*\): Promise<string>;' src/NativeLibStatus.ts)
echo "--- javac: Android module, old architecture (src/oldarch) and new (src/newarch + codegen's spec)"
if command -v javac >/dev/null; then
    java_common=(android/src/main/java/im/status/libstatus/reactnative/*.java
        "$root"/bindings/android/src/main/java/im/status/libstatus/*.java
        $(find test/java-stubs -name '*.java'))
    javac -Xlint:all,-processing -Werror -d "$work/javac-old" "${java_common[@]}" \
        android/src/oldarch/im/status/libstatus/reactnative/LibStatusSpec.java \
        test/java-stubs-oldarch/im/status/libstatus/reactnative/BuildConfig.java
    javac -Xlint:all,-processing -Werror -d "$work/javac-new" "${java_common[@]}" \
        android/src/newarch/im/status/libstatus/reactnative/LibStatusSpec.java \
        "$work/codegen/java/im/status/libstatus/reactnative/NativeLibStatusSpec.java" \
        test/java-stubs-newarch/im/status/libstatus/reactnative/BuildConfig.java
    # The old architecture's module really is a bridge module with every method a @ReactMethod.
    javap -cp "$work/javac-old" im.status.libstatus.reactnative.LibStatusSpec | grep -q 'extends com.facebook.react.bridge.ReactContextBaseJavaModule'
    javap -cp "$work/javac-new" im.status.libstatus.reactnative.LibStatusSpec | grep -q 'extends im.status.libstatus.reactnative.NativeLibStatusSpec'
    n=$(javap -v -cp "$work/javac-old" im.status.libstatus.reactnative.LibStatusModule |
        grep -c '^ *com.facebook.react.bridge.ReactMethod$')
    [ "$n" = "$methods" ] || { echo "expected $methods @ReactMethod methods in LibStatusModule, found $n" >&2; exit 1; }
    echo "javac: both architectures compile (-Xlint:all -Werror)"
    pass=$((pass + 1))
else
    echo "javac not found (apt-get install -y openjdk-17-jdk-headless)" >&2
    exit 1
fi

echo "--- clang: ios/RNLibStatus.mm, old architecture (RCT_EXPORT_METHOD), against stub headers"
if command -v clang >/dev/null; then
    clang -x objective-c++ -std=c++17 -fsyntax-only -fobjc-arc -fblocks -fobjc-runtime=ios-13.0 \
        -Wall -Wextra -Werror -Itest/objc-stubs -I"$root/include" ios/RNLibStatus.mm
    # One bridge method per export: each RCT_EXPORT_METHOD expands to a
    # +__rct_export__<line><counter> method info, as React Native's macro does.
    n=$(clang -x objective-c++ -std=c++17 -E -fobjc-arc -fblocks -fobjc-runtime=ios-13.0 -Itest/objc-stubs -I"$root/include" \
        ios/RNLibStatus.mm | grep -o "__rct_export__[0-9]*" | sort -u | wc -l)
    [ "$n" = "$methods" ] || { echo "expected $methods RCT_EXPORT_METHODs, found $n" >&2; exit 1; }
    echo "clang: RNLibStatus.mm compiles for the old architecture; $methods methods exported to the bridge"
    pass=$((pass + 1))
else
    echo "clang not found (apt-get install -y clang)" >&2
    exit 1
fi
echo "$pass passed, 0 failed"
