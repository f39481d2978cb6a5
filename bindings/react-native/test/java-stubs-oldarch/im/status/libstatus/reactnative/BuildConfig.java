// Stands in for the BuildConfig android/build.gradle generates
// (buildConfigField IS_NEW_ARCHITECTURE_ENABLED) when newArchEnabled=false.
package im.status.libstatus.reactnative;

public final class BuildConfig {
    public static final boolean IS_NEW_ARCHITECTURE_ENABLED = false;

    private BuildConfig() {}
}
