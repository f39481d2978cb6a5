// A minimal stub of a React Native / Android class, for bindings/react-native/test.sh:
// only the members the module sources use, so javac can check them without an
// Android SDK or React Native. Not shipped; the real class is used in an app.
package androidx.annotation;
public @interface Nullable {}
