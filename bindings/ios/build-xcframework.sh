#!/usr/bin/env bash
# Builds LibStatus.xcframework for iOS apps: the Rust static library (libstatus.a)
# and the Objective-C binding (SGLibStatus) merged into one static library per
# platform, with headers and a Clang module map, so that Swift can `import LibStatus`
# and Objective-C can `#import <LibStatus/SGLibStatus.h>`.
#
# Runs on macOS only, with Xcode (xcodebuild, xcrun, lipo, libtool) and rustup.
#
#   bindings/ios/build-xcframework.sh            # release build -> target/xcframework/LibStatus.xcframework
#   PROFILE=debug bindings/ios/build-xcframework.sh
#   WITH_MACOS=1 bindings/ios/build-xcframework.sh   # also a macOS slice (Catalyst not included)
#
# Environment:
#   PROFILE                     cargo profile: release (default) or debug
#   OUT                         output folder (default: <repo>/target/xcframework)
#   IPHONEOS_DEPLOYMENT_TARGET  minimum iOS (default 13.0); MACOSX_DEPLOYMENT_TARGET (default 11.0)
#   WITH_MACOS=1                add an arm64+x86_64 macOS slice
#
# Slices: ios-arm64 (devices), ios-arm64_x86_64-simulator (Apple silicon and Intel
# simulators, merged with lipo), and optionally macos-arm64_x86_64.
# In Xcode: add LibStatus.xcframework to the app target ("Do Not Embed": it is static).
# The module map links the system frameworks and libraries the Rust code needs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=${PROFILE:-release}
out=${OUT:-$root/target/xcframework}
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-11.0}

if [ "$(uname -s)" != Darwin ]; then
    echo "build-xcframework.sh: needs macOS with Xcode (xcodebuild); this is $(uname -s)." >&2
    exit 1
fi
for tool in xcodebuild xcrun lipo libtool cargo rustup; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-xcframework.sh: $tool not found" >&2; exit 1; }
done

# rust target : clang target triple : platform group
slices=(
    "aarch64-apple-ios:arm64-apple-ios${IPHONEOS_DEPLOYMENT_TARGET}:ios"
    "aarch64-apple-ios-sim:arm64-apple-ios${IPHONEOS_DEPLOYMENT_TARGET}-simulator:ios-simulator"
    "x86_64-apple-ios:x86_64-apple-ios${IPHONEOS_DEPLOYMENT_TARGET}-simulator:ios-simulator"
)
if [ "${WITH_MACOS:-0}" = 1 ]; then
    slices+=(
        "aarch64-apple-darwin:arm64-apple-macos${MACOSX_DEPLOYMENT_TARGET}:macos"
        "x86_64-apple-darwin:x86_64-apple-macos${MACOSX_DEPLOYMENT_TARGET}:macos"
    )
fi

case "$profile" in
    debug) cargo_profile=(); profile_dir=debug ;;
    *) cargo_profile=(--profile "$profile"); profile_dir=$profile ;;
esac

work="$out/work"
rm -rf "$work" "$out/LibStatus.xcframework"
mkdir -p "$work"

rust_targets=()
for s in "${slices[@]}"; do rust_targets+=("${s%%:*}"); done
rustup target add "${rust_targets[@]}"

sdk_for() {
    case "$1" in
        ios) echo iphoneos ;;
        ios-simulator) echo iphonesimulator ;;
        macos) echo macosx ;;
    esac
}

# 1. Per slice: build libstatus.a, compile SGLibStatus.m (ARC), merge both into one archive.
for s in "${slices[@]}"; do
    IFS=: read -r rust_target clang_target group <<<"$s"
    echo "== $rust_target"
    (cd "$root" && cargo build --lib "${cargo_profile[@]}" --target "$rust_target")
    sdk=$(sdk_for "$group")
    obj="$work/$rust_target/SGLibStatus.o"
    mkdir -p "$work/$rust_target"
    xcrun --sdk "$sdk" clang -target "$clang_target" -isysroot "$(xcrun --sdk "$sdk" --show-sdk-path)" \
        -fobjc-arc -fmodules -O2 -g -Wall -Wextra -Werror \
        -I "$root/include" -c "$here/SGLibStatus.m" -o "$obj"
    libtool -static -o "$work/$rust_target/libLibStatus.a" \
        "$root/target/$rust_target/$profile_dir/libstatus.a" "$obj"
done

# 2. The system libraries the Rust archive needs, as rustc reports them for a device
#    build, turned into module-map link declarations (Swift/Clang autolinking).
native_libs=$(cd "$root" && cargo rustc --lib "${cargo_profile[@]}" --target aarch64-apple-ios \
    --crate-type staticlib -- --print native-static-libs 2>&1 |
    sed -n 's/.*native-static-libs: //p' | tail -n 1)
native_libs=${native_libs:-"-framework CoreFoundation -framework Security -liconv -lSystem -lc -lm"}
links=""
set -- $native_libs
while [ $# -gt 0 ]; do
    case "$1" in
        -framework) links+="    link framework \"$2\""$'\n'; shift 2 ;;
        -lSystem|-lc|-lm) shift ;;   # always linked on Apple platforms
        -l*) links+="    link \"${1#-l}\""$'\n'; shift ;;
        *) shift ;;
    esac
done

# 3. Headers: a LibStatus/ subfolder keeps the module map from colliding with
#    other XCFrameworks' maps in the app's shared include folder.
headers="$work/Headers"
mkdir -p "$headers/LibStatus"
cp "$root/include/libstatus.h" "$here/SGLibStatus.h" "$headers/LibStatus/"
cat > "$headers/LibStatus/module.modulemap" <<EOF
module LibStatus {
    header "SGLibStatus.h"
    header "libstatus.h"
    export *
$links}
EOF

# 4. One library per platform group: lipo the slices that share a platform.
xc_args=()
for group in ios ios-simulator macos; do
    libs=()
    for s in "${slices[@]}"; do
        IFS=: read -r rust_target _ g <<<"$s"
        [ "$g" = "$group" ] && libs+=("$work/$rust_target/libLibStatus.a")
    done
    [ ${#libs[@]} -eq 0 ] && continue
    mkdir -p "$work/$group"
    lipo -create "${libs[@]}" -output "$work/$group/libLibStatus.a"
    xc_args+=(-library "$work/$group/libLibStatus.a" -headers "$headers")
done

xcodebuild -create-xcframework "${xc_args[@]}" -output "$out/LibStatus.xcframework"
echo "$out/LibStatus.xcframework"
