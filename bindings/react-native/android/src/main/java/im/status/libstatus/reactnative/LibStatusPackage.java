package im.status.libstatus.reactnative;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;

import com.facebook.react.TurboReactPackage;
import com.facebook.react.bridge.NativeModule;
import com.facebook.react.bridge.ReactApplicationContext;
import com.facebook.react.module.model.ReactModuleInfo;
import com.facebook.react.module.model.ReactModuleInfoProvider;

import java.util.HashMap;
import java.util.Map;

/**
 * Registers the {@code LibStatus} module (autolinked, or add it to the app's
 * packages), as a TurboModule when the app is built with newArchEnabled=true,
 * as a bridge module otherwise ({@code BuildConfig.IS_NEW_ARCHITECTURE_ENABLED},
 * set by build.gradle). {@code TurboReactPackage} is the base that exists from
 * React Native 0.71 on (0.74 added {@code BaseReactPackage} and deprecated it),
 * and the 7-argument {@code ReactModuleInfo} constructor is the one 0.71 has.
 */
public final class LibStatusPackage extends TurboReactPackage {
    @Nullable
    @Override
    public NativeModule getModule(@NonNull String name, @NonNull ReactApplicationContext reactContext) {
        return LibStatusModule.NAME.equals(name) ? new LibStatusModule(reactContext) : null;
    }

    @Override
    public ReactModuleInfoProvider getReactModuleInfoProvider() {
        return () -> {
            Map<String, ReactModuleInfo> modules = new HashMap<>();
            boolean isTurboModule = BuildConfig.IS_NEW_ARCHITECTURE_ENABLED;
            modules.put(LibStatusModule.NAME, new ReactModuleInfo(
                LibStatusModule.NAME,
                LibStatusModule.class.getName(),
                false, // canOverrideExistingModule
                false, // needsEagerInit
                false, // hasConstants
                false, // isCxxModule
                isTurboModule));
            return modules;
        };
    }
}
