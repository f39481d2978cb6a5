package im.status.libstatus.reactnative;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;

import com.facebook.react.BaseReactPackage;
import com.facebook.react.bridge.NativeModule;
import com.facebook.react.bridge.ReactApplicationContext;
import com.facebook.react.module.model.ReactModuleInfo;
import com.facebook.react.module.model.ReactModuleInfoProvider;

import java.util.HashMap;
import java.util.Map;

/** Registers the {@code LibStatus} TurboModule (autolinked, or add it to the app's packages). */
public final class LibStatusPackage extends BaseReactPackage {
    @Nullable
    @Override
    public NativeModule getModule(@NonNull String name, @NonNull ReactApplicationContext reactContext) {
        return NativeLibStatusSpec.NAME.equals(name) ? new LibStatusModule(reactContext) : null;
    }

    @NonNull
    @Override
    public ReactModuleInfoProvider getReactModuleInfoProvider() {
        return () -> {
            Map<String, ReactModuleInfo> modules = new HashMap<>();
            modules.put(NativeLibStatusSpec.NAME, new ReactModuleInfo(
                NativeLibStatusSpec.NAME,
                LibStatusModule.class.getName(),
                false, // canOverrideExistingModule
                false, // needsEagerInit
                false, // isCxxModule
                true)); // isTurboModule
            return modules;
        };
    }
}
