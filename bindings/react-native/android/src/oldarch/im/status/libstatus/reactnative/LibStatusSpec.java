package im.status.libstatus.reactnative;

import com.facebook.react.bridge.Promise;
import com.facebook.react.bridge.ReactApplicationContext;
import com.facebook.react.bridge.ReactContextBaseJavaModule;

/**
 * Old architecture (the bridge, newArchEnabled=false, e.g. status-mobile on
 * React Native 0.73): a plain {@code ReactContextBaseJavaModule}, whose
 * {@code @ReactMethod}s (in {@link LibStatusModule}) appear in
 * {@code NativeModules.LibStatus}. Declares the same methods as the generated
 * {@code NativeLibStatusSpec}, so one module class serves both architectures.
 */
abstract class LibStatusSpec extends ReactContextBaseJavaModule {
    LibStatusSpec(ReactApplicationContext context) {
        super(context);
    }

    @Override
    public String getName() {
        return LibStatusModule.NAME;
    }

    public abstract void initializeApplication(String requestJson, Promise promise);

    public abstract void toggleCentralizedMetrics(String requestJson, Promise promise);

    public abstract void centralizedMetricsInfo(Promise promise);

    public abstract void intendedPanic(String message, Promise promise);

    public abstract void intendedBackgroundPanic(String message, Promise promise);

    public abstract void flushPanicReports(double timeoutMs, Promise promise);

    public abstract void panicReports(String requestJson, Promise promise);

    public abstract void deletePanicReports(String requestJson, Promise promise);
    public abstract void nextPanicReport(String requestJson, Promise promise);

    public abstract void panicReportOutcome(String requestJson, Promise promise);
}
