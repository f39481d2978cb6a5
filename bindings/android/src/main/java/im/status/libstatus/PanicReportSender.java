package im.status.libstatus;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The host's transport for panic reports (InitializeApplication with
 * {@code "transport":"host"}): a small loop on a thread of its own that pulls
 * the next report from the library ({@code NextPanicReport}), POSTs it with
 * {@link HttpURLConnection} (so it follows the app's network security config,
 * proxy and VPN settings like the rest of its traffic), and tells the library
 * what the server answered ({@code PanicReportOutcome}). The library keeps the
 * outbox, the consent, storm control, the send budget, the backoff and the
 * server's waits: this loop decides nothing.
 *
 * <p>Start it when the app starts (or comes to the foreground) and stop it
 * when it goes to the background. A report whose request the system cuts off
 * (the app backgrounded or killed mid-send) stays in the library's outbox: its
 * lease expires and it is sent again later; nothing is lost.
 *
 * <p>An opt-out through {@link LibStatus#toggleCentralizedMetrics(boolean)}
 * cancels the request in flight ({@link HttpURLConnection#disconnect()}); the
 * library has deleted the report by then and refuses its acknowledgement.
 */
public final class PanicReportSender {
    private static final CopyOnWriteArrayList<PanicReportSender> RUNNING = new CopyOnWriteArrayList<>();

    private final int waitMs;
    private final int timeoutMs;
    private volatile boolean running;
    private volatile HttpURLConnection inFlight;
    private Thread thread;

    /** What the loop did, for tests and diagnostics. */
    public final AtomicInteger delivered = new AtomicInteger();
    public final AtomicInteger retried = new AtomicInteger();
    public final AtomicInteger refused = new AtomicInteger();
    public final AtomicInteger cancelled = new AtomicInteger();

    /** Waits up to 30 s in each pull; 30 s for each request. */
    public PanicReportSender() {
        this(30_000, 30_000);
    }

    /**
     * @param waitMs how long each pull waits for a report to become due (0..60000):
     *     also how long {@link #stop()} may take to end the thread
     * @param timeoutMs connect and read time-out of each request
     */
    public PanicReportSender(int waitMs, int timeoutMs) {
        this.waitMs = waitMs;
        this.timeoutMs = timeoutMs;
    }

    /** Starts the loop (a daemon thread); a second call does nothing. */
    public synchronized void start() {
        if (running) {
            return;
        }
        running = true;
        RUNNING.add(this);
        thread = new Thread(this::loop, "libstatus-report-sender");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Stops the loop: cancels the request in flight (its report stays in the
     * outbox and is sent after the next start) and returns at once; the thread
     * ends within the pull's wait.
     */
    public synchronized void stop() {
        running = false;
        RUNNING.remove(this);
        cancelInFlight();
    }

    /** Called by an opt-out (after the library answered it). */
    static void cancelAll() {
        for (PanicReportSender sender : RUNNING) {
            sender.cancelInFlight();
        }
    }

    private void cancelInFlight() {
        HttpURLConnection connection = inFlight;
        if (connection != null) {
            cancelled.incrementAndGet();
            connection.disconnect();
        }
    }

    private void loop() {
        while (running) {
            Map<String, Object> report;
            try {
                report = MiniJson.parseObject(
                    LibStatus.nativeNextPanicReport("{\"leaseMs\":" + (2 * timeoutMs + 5_000) + ",\"waitMs\":" + waitMs + "}"));
            } catch (RuntimeException e) {
                sleep(1_000);
                continue;
            }
            Object error = report.get("error");
            if (error instanceof String && !((String) error).isEmpty()) {
                // Not initialized yet, or the library's own transport: look again later.
                sleep(waitMs > 0 ? waitMs : 1_000);
                continue;
            }
            Object id = report.get("id");
            if (!(id instanceof String)) {
                // Nothing due: the pull already waited up to waitMs.
                if (waitMs == 0) {
                    Object retry = report.get("retryInMs");
                    sleep(retry instanceof Long ? Math.min((Long) retry, 60_000L) : 1_000L);
                }
                continue;
            }
            String outcome = send(report);
            Map<String, Object> answer = MiniJson.parseObject(LibStatus.nativePanicReportOutcome(outcome));
            if (Boolean.TRUE.equals(answer.get("accepted"))) {
                if ("delivered".equals(answer.get("verdict")) || "rejected".equals(answer.get("verdict"))) {
                    delivered.incrementAndGet();
                } else {
                    retried.incrementAndGet();
                }
            } else {
                refused.incrementAndGet();
            }
        }
    }

    /** One POST; answers the PanicReportOutcome request. */
    @SuppressWarnings("unchecked")
    private String send(Map<String, Object> report) {
        String id = (String) report.get("id");
        HttpURLConnection connection = null;
        try {
            connection = (HttpURLConnection) new URL((String) report.get("url")).openConnection();
            connection.setRequestMethod("POST");
            connection.setInstanceFollowRedirects(false);
            connection.setUseCaches(false);
            connection.setConnectTimeout(timeoutMs);
            connection.setReadTimeout(timeoutMs);
            for (Map.Entry<String, Object> header : ((Map<String, Object>) report.get("headers")).entrySet()) {
                connection.setRequestProperty(header.getKey(), (String) header.getValue());
            }
            byte[] body = ((String) report.get("body")).getBytes(StandardCharsets.UTF_8);
            connection.setDoOutput(true);
            connection.setFixedLengthStreamingMode(body.length);
            inFlight = connection;
            if (!running) {
                throw new IOException("stopped");
            }
            try (OutputStream out = connection.getOutputStream()) {
                out.write(body);
            }
            int status = connection.getResponseCode();
            String retryAfter = connection.getHeaderField("Retry-After");
            String rateLimits = connection.getHeaderField("X-Sentry-Rate-Limits");
            drain(status >= 400 ? connection.getErrorStream() : connection.getInputStream());
            return "{\"id\":" + quote(id) + ",\"status\":" + status
                + (retryAfter != null ? ",\"retryAfter\":" + quote(retryAfter) : "")
                + (rateLimits != null ? ",\"rateLimits\":" + quote(rateLimits) : "") + "}";
        } catch (IOException | RuntimeException e) {
            return "{\"id\":" + quote(id) + ",\"networkError\":" + quote(e.getClass().getSimpleName()) + "}";
        } finally {
            inFlight = null;
            if (connection != null) {
                connection.disconnect();
            }
        }
    }

    private static void drain(InputStream in) throws IOException {
        if (in == null) {
            return;
        }
        try (InputStream stream = in) {
            byte[] buffer = new byte[4096];
            while (stream.read(buffer) >= 0) {
                // The body says nothing the library reads.
            }
        }
    }

    private void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    /** A JSON string. */
    static String quote(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}
