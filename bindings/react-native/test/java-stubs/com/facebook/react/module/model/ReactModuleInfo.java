// A minimal stub of a React Native / Android class, for bindings/react-native/test.sh:
// only the members the module sources use, so javac can check them without an
// Android SDK or React Native. Not shipped; the real class is used in an app.
package com.facebook.react.module.model;
public class ReactModuleInfo {
    // The 7-argument constructor of React Native 0.71 (hasConstants; deprecated later, still there).
    public ReactModuleInfo(String name, String className, boolean canOverrideExistingModule,
            boolean needsEagerInit, boolean hasConstants, boolean isCxxModule, boolean isTurboModule) {}
}
