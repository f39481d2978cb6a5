// A minimal stub of a React Native / Android class, for bindings/react-native/test.sh:
// only the members the module sources use, so javac can check them without an
// Android SDK or React Native. Not shipped; the real class is used in an app.
package com.facebook.react;
import com.facebook.react.bridge.NativeModule;
import com.facebook.react.bridge.ReactApplicationContext;
import com.facebook.react.module.model.ReactModuleInfoProvider;
public abstract class TurboReactPackage {
    public abstract NativeModule getModule(String name, ReactApplicationContext reactContext);
    public abstract ReactModuleInfoProvider getReactModuleInfoProvider();
}
