#!/usr/bin/env bash
# The React Native binding, checked on Linux without react-native itself:
#  1. npm ci (pinned: @react-native/codegen, typescript, koffi, @types/node);
#  2. @react-native/codegen generates the Android/C++/iOS interfaces from
#     src/NativeLibStatus.ts, and the hand-written modules implement them;
#  3. tsc --noEmit;
#  4. the typed wrapper (src/index.ts) against the REAL target/debug/libstatus.so
#     through a koffi native module, with node:test.
# Needs: cargo, node >= 20.19.4, npm, and the npm registry (for npm ci).
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
# A stand-in 'react-native' for Node: TurboModuleRegistry.getEnforcing('LibStatus')
# returns the koffi native module over the real library.
mkdir -p "$work/build/node_modules/react-native"
cat >"$work/build/node_modules/react-native/index.js" <<'JS'
'use strict';
const { createKoffiNativeModule } = require('../../test/koffiNativeModule');
let libstatus;
function get(name) {
  if (name !== 'LibStatus') return null;
  libstatus ??= createKoffiNativeModule(process.env.LIBSTATUS_SO);
  return libstatus;
}
exports.TurboModuleRegistry = {
  get,
  getEnforcing(name) {
    const module = get(name);
    if (!module) throw new Error(`TurboModuleRegistry.getEnforcing(...): '${name}' could not be found`);
    return module;
  },
};
JS
log="$work/stderr.log"
status=0
# The library chains Rust's default panic hook, which prints each (intended)
# panic to stderr: kept in a log, shown only on failure.
LIBSTATUS_SO="$so" RUST_BACKTRACE=0 NODE_PATH="$here/node_modules" \
    node --expose-gc --test-reporter=spec "$work/build/test/libstatus.test.js" \
    >"$work/out.txt" 2>"$log" || status=$?
cat "$work/out.txt"
pass=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$work/out.txt")
fail=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$work/out.txt")
if [ "$status" -ne 0 ] || [ -z "$pass" ] || [ "${fail:-1}" != 0 ]; then
    echo "--- node stderr (last 60 lines)"
    tail -n 60 "$log"
    echo "${pass:-0} passed, ${fail:-?} failed"
    exit 1
fi
echo "$pass passed, 0 failed"
