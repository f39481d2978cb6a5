package im.status.libstatus;

import java.util.Map;

/**
 * libstatus for Java / Android: the C ABI's exports as static methods.
 *
 * <p>Two layers:
 * <ul>
 *   <li>{@code nativeXxx}: the JNI methods (Rust glue in {@code src/jni.rs}, cargo
 *       feature {@code jni}). They return the answer JSON exactly as the C ABI does,
 *       errors included, e.g. {@code {"error":"boom","code":"panic"}}. For bridges
 *       that forward JSON (the React Native module). They throw only when the glue
 *       cannot hand an answer to Java (out of memory): {@link LibStatusException}.</li>
 *   <li>{@code xxx}: the same calls, checked: an error answer (a non-empty
 *       {@code "error"}) becomes a {@link LibStatusException} carrying the answer's
 *       {@code code} and message, a {@link LibStatusPanicException} for
 *       {@code "code":"panic"}. Success returns the answer JSON.</li>
 * </ul>
 *
 * <p>The JSON-to-exception mapping happens here, in Java (see {@link #check}), so
 * both layers see the same answers as every other host. Strings cross JNI with
 * modified UTF-8 handled by the glue (emoji round-trip). The glue copies each
 * answer into a Java string and frees the Rust one: there is nothing to free here.
 * All methods are thread-safe; none does network I/O.
 *
 * <p>Loading: {@code System.loadLibrary("status")} ({@code libstatus.so} in the APK's
 * {@code jniLibs/<abi>/}, or on {@code java.library.path}); set the system property
 * {@code libstatus.library} to an absolute path to load that file instead.
 */
public final class LibStatus {
    static {
        String path = System.getProperty("libstatus.library");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("status");
        }
    }

    private LibStatus() {}

    // ---- The JNI methods: answer JSON as is. ----

    /** The C ABI's {@code InitializeApplication}: answer JSON, errors included. */
    public static native String nativeInitializeApplication(String requestJson);

    /** The C ABI's {@code ToggleCentralizedMetrics}: answer JSON, errors included. */
    public static native String nativeToggleCentralizedMetrics(String requestJson);

    /** The C ABI's {@code CentralizedMetricsInfo}: answer JSON, errors included. */
    public static native String nativeCentralizedMetricsInfo();

    /** The C ABI's {@code IntendedPanic}: always {@code {"error":"<message>","code":"panic"}}. */
    public static native String nativeIntendedPanic(String message);

    /** The C ABI's {@code IntendedBackgroundPanic}: answer JSON, errors included. */
    public static native String nativeIntendedBackgroundPanic(String message);

    /** The C ABI's {@code FlushPanicReports}: answer JSON, errors included. */
    public static native String nativeFlushPanicReports(int timeoutMs);

    /** {@code PanicReports(requestJson)}: the answer JSON as is. */
    public static native String nativePanicReports(String requestJson);

    /** {@code DeletePanicReports(requestJson)}: the answer JSON as is. */
    public static native String nativeDeletePanicReports(String requestJson);
    /** The C ABI's {@code NextPanicReport} (the host's transport): answer JSON, errors included. */
    public static native String nativeNextPanicReport(String requestJson);

    /** The C ABI's {@code PanicReportOutcome} (the host's transport): answer JSON, errors included. */
    public static native String nativePanicReportOutcome(String requestJson);

    // ---- Checked calls: error answers become exceptions. ----

    /**
     * Sets the library up for a data directory; call it first. Request: a JSON
     * object with {@code dataDir} (required), optional {@code sentryDSN}, {@code logDir},
     * {@code logEnabled}, {@code logLevel}, {@code logToStderr}, {@code apiLoggingEnabled}.
     * Returns {@code {"centralizedMetricsInfo":{...},"panicReporting":{...}}}.
     */
    public static String initializeApplication(String requestJson) {
        return check(nativeInitializeApplication(requestJson));
    }

    /** Stores the user's metrics opt-in ({@code {"enabled":bool}}); returns {@code {"error":""}}. */
    public static String toggleCentralizedMetrics(String requestJson) {
        String answer = check(nativeToggleCentralizedMetrics(requestJson));
        // An opt-out also cancels the request a PanicReportSender has in flight
        // (the library has deleted its report by now).
        Object enabled = MiniJson.parseObject(check(nativeCentralizedMetricsInfo())).get("enabled");
        if (!Boolean.TRUE.equals(enabled)) {
            PanicReportSender.cancelAll();
        }
        return answer;
    }

    /** {@link #toggleCentralizedMetrics(String)} with {@code {"enabled":enabled}}. */
    public static String toggleCentralizedMetrics(boolean enabled) {
        return toggleCentralizedMetrics(enabled ? "{\"enabled\":true}" : "{\"enabled\":false}");
    }

    /** The stored opt-in: {@code {"enabled":b,"userConfirmed":b}}. */
    public static String centralizedMetricsInfo() {
        return check(nativeCentralizedMetricsInfo());
    }

    /**
     * Panics on purpose inside the library ("force crash"): always throws a
     * {@link LibStatusPanicException} whose message is {@code message} (sensitive
     * JSON values masked).
     */
    public static String intendedPanic(String message) {
        return check(nativeIntendedPanic(message));
    }

    /** Panics in a library thread, which reports it; returns {@code {"error":""}}. */
    public static String intendedBackgroundPanic(String message) {
        return check(nativeIntendedBackgroundPanic(message));
    }

    /**
     * Waits at most {@code timeoutMs} (0..60000) for queued panic reports to be sent;
     * returns {@code {"error":"","pending":N}}. Call it when the app goes to the
     * background or quits, off the UI thread (or with a short timeout).
     */
    public static String flushPanicReports(int timeoutMs) {
        return check(nativeFlushPanicReports(timeoutMs));
    }

    /**
     * What the user can see of the panic reports: every pending report with the
     * exact body that will be sent, the delivered ones, and what was removed.
     * {@code requestJson}: {@code {}}, or {@code {"after":"<id>","limit":N}}.
     */
    public static String panicReports(String requestJson) {
        return check(nativePanicReports(requestJson));
    }

    /**
     * Deletes pending reports for good: {@code {"ids":[...]}} or {@code {"all":true}}
     * (which also clears the history of delivered ones).
     */
    public static String deletePanicReports(String requestJson) {
        return check(nativeDeletePanicReports(requestJson));
    }

    /**
     * Returns {@code answer} when it is not an error answer; otherwise throws the
     * matching exception. An error answer is an object whose {@code "error"} is a
     * non-empty string; its {@code "code"} picks the exception.
     */
    public static String check(String answer) {
        if (answer == null) {
            throw new LibStatusException(LibStatusException.INTERNAL, "libstatus returned no answer");
        }
        Map<String, Object> object;
        try {
            object = MiniJson.parseObject(answer);
        } catch (IllegalArgumentException e) {
            throw new LibStatusException(LibStatusException.INTERNAL, "libstatus answered invalid JSON: " + e.getMessage());
        }
        Object error = object.get("error");
        if (!(error instanceof String) || ((String) error).isEmpty()) {
            return answer;
        }
        Object code = object.get("code");
        String codeText = code instanceof String ? (String) code : LibStatusException.INTERNAL;
        if (LibStatusException.PANIC.equals(codeText)) {
            throw new LibStatusPanicException((String) error);
        }
        throw new LibStatusException(codeText, (String) error);
    }
}
