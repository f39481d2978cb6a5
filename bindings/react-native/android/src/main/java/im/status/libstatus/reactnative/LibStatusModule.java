package im.status.libstatus.reactnative;

import androidx.annotation.NonNull;

import com.facebook.react.bridge.Promise;
import com.facebook.react.bridge.ReactApplicationContext;
import com.facebook.react.bridge.ReactMethod;
import com.facebook.react.module.annotations.ReactModule;

import im.status.libstatus.LibStatus;
import im.status.libstatus.LibStatusException;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The native module {@code LibStatus} on Android, for both architectures: it
 * extends {@code LibStatusSpec}, which build.gradle takes from src/newarch (the
 * codegen'd TurboModule spec) or src/oldarch (a {@code ReactContextBaseJavaModule}
 * for the bridge); the {@code @ReactMethod}s are what the bridge exposes and are
 * ignored by the TurboModule system. React Native 0.71 and up.
 *
 * <p>It runs over the Java binding
 * ({@code bindings/android}: {@link LibStatus}, JNI glue in the library).
 *
 * <p>Each method resolves with the library's answer JSON as is, error answers
 * included: the TypeScript layer maps them to {@code LibStatusError} /
 * {@code LibStatusPanicError}, the same way as on iOS. It rejects only when the
 * glue throws (it could not produce an answer), with the exception's code.
 * Calls run on a small pool, off the JS and UI threads: FlushPanicReports
 * waits and InitializeApplication does I/O.
 */
@ReactModule(name = LibStatusModule.NAME)
public final class LibStatusModule extends LibStatusSpec {
    public static final String NAME = "LibStatus";

    private static final AtomicInteger THREADS = new AtomicInteger();

    private final ExecutorService executor = Executors.newFixedThreadPool(4, runnable -> {
        Thread thread = new Thread(runnable, "libstatus-rn-" + THREADS.incrementAndGet());
        thread.setDaemon(true);
        return thread;
    });

    public LibStatusModule(ReactApplicationContext reactContext) {
        super(reactContext);
    }

    @Override
    @ReactMethod
    public void initializeApplication(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativeInitializeApplication(requestJson));
    }

    @Override
    @ReactMethod
    public void toggleCentralizedMetrics(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativeToggleCentralizedMetrics(requestJson));
    }

    @Override
    @ReactMethod
    public void centralizedMetricsInfo(Promise promise) {
        run(promise, LibStatus::nativeCentralizedMetricsInfo);
    }

    @Override
    @ReactMethod
    public void intendedPanic(String message, Promise promise) {
        run(promise, () -> LibStatus.nativeIntendedPanic(message));
    }

    @Override
    @ReactMethod
    public void intendedBackgroundPanic(String message, Promise promise) {
        run(promise, () -> LibStatus.nativeIntendedBackgroundPanic(message));
    }

    @Override
    @ReactMethod
    public void flushPanicReports(double timeoutMs, Promise promise) {
        // JS numbers are doubles; the library takes an int. Anything that does
        // not convert exactly becomes -1, which the library refuses
        // (invalid-request). The TypeScript layer checks first.
        int timeout = timeoutMs == Math.rint(timeoutMs) && Math.abs(timeoutMs) <= Integer.MAX_VALUE
            ? (int) timeoutMs
            : -1;
        run(promise, () -> LibStatus.nativeFlushPanicReports(timeout));
    }

    @Override
    @ReactMethod
    public void panicReports(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativePanicReports(requestJson));
    }

    @Override
    @ReactMethod
    public void nextPanicReport(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativeNextPanicReport(requestJson));
    }

    @Override
    @ReactMethod
    public void deletePanicReports(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativeDeletePanicReports(requestJson));
    }

    @Override
    @ReactMethod
    public void panicReportOutcome(String requestJson, Promise promise) {
        run(promise, () -> LibStatus.nativePanicReportOutcome(requestJson));
    }

    @Override
    public void invalidate() {
        executor.shutdown();
        super.invalidate();
    }

    private void run(@NonNull Promise promise, @NonNull Supplier<String> call) {
        try {
            executor.execute(() -> {
                try {
                    promise.resolve(call.get());
                } catch (LibStatusException e) {
                    promise.reject(e.getCode(), e.getMessage(), e);
                } catch (Throwable t) { // e.g. OutOfMemoryError: never leave the promise pending
                    promise.reject("internal", String.valueOf(t), t);
                }
            });
        } catch (RuntimeException e) { // the pool was shut down
            promise.reject("internal", "LibStatus module is shut down", e);
        }
    }
}
