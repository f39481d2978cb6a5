package im.status.libstatus.reactnative;

import com.facebook.react.bridge.ReactApplicationContext;

/**
 * New architecture (newArchEnabled=true): the module's base is the spec
 * @react-native/codegen generates from src/NativeLibStatus.ts. build.gradle puts
 * this folder on the source path only then (src/oldarch otherwise), as
 * create-react-native-library's backward-compatible template does.
 */
abstract class LibStatusSpec extends NativeLibStatusSpec {
    LibStatusSpec(ReactApplicationContext context) {
        super(context);
    }
}
