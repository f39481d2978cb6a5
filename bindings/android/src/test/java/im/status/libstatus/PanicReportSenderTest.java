package im.status.libstatus;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@link PanicReportSender} (the host's transport) against the real
 * libstatus.so and a Sentry envelope receiver on loopback (the JDK's
 * HttpServer). A process of its own (the library keeps one state per
 * process); run by bindings/android/test.sh with SENTRY_ENVIRONMENT=ci-main.
 */
public final class PanicReportSenderTest {
    /** What the receiver answers next: a status and an optional Retry-After; -1 hangs. */
    private static final ConcurrentLinkedQueue<String[]> replies = new ConcurrentLinkedQueue<>();
    private static final List<String> bodies = new ArrayList<>();
    private static final List<Long> arrivals = new ArrayList<>();
    private static volatile CountDownLatch hung = new CountDownLatch(1);
    private static HttpServer server;
    private static int port;
    private static int passed;
    private static int failed;

    public static void main(String[] args) throws Exception {
        Path dataDir = Files.createTempDirectory("libstatus-java-sender-");
        start(0);
        port = server.getAddress().getPort();
        Files.writeString(dataDir.resolve("centralized-metrics.json"), "{\"enabled\":true,\"userConfirmed\":true}");
        String answer = LibStatus.initializeApplication("{\"dataDir\":" + PanicReportSender.quote(dataDir.toString())
            + ",\"sentryDSN\":\"http://5ecre7f00dfacade5ecre7f00dfacade@127.0.0.1:" + port + "/42\""
            + ",\"transport\":\"host\",\"panicStormWindowMs\":100}");
        PanicReportSender sender = new PanicReportSender(1_000, 10_000);
        sender.start();
        try {
            test("the host transport is active", () -> {
                check(answer.contains("\"transport\":\"host\""), answer);
                check(answer.contains("\"active\":true"), answer);
            });
            test("a panic is delivered through HttpURLConnection", () -> {
                panic("java: delivered");
                waitFor(() -> delivered("java: delivered"), 20_000, "the report to arrive");
                waitFor(() -> outbox(dataDir) == 0, 5_000, "the delivered report to be deleted");
            });
            test("a 429 with Retry-After withholds the next report until then", () -> {
                replies.add(new String[] {"429", "2"});
                int before = count();
                panic("java: told to wait");
                waitFor(() -> count() == before + 1, 10_000, "the first request");
                long refusedAt = arrival(before);
                panic("java: behind it");
                waitFor(() -> delivered("java: told to wait") && delivered("java: behind it"), 20_000, "both reports");
                check(arrival(before + 1) - refusedAt >= 2_000_000_000L, "the next request came before Retry-After");
            });
            test("a network failure drops nothing", () -> {
                server.stop(0);
                panic("java: through a dead network");
                waitFor(() -> sender.retried.get() > 0, 10_000, "a network failure");
                check(outbox(dataDir) == 1, "the report is kept");
                start(port);
                waitFor(() -> delivered("java: through a dead network"), 30_000, "the report after the backoff");
            });
            test("an opt-out cancels the request in flight and its report is not counted", () -> {
                hung = new CountDownLatch(1);
                replies.add(new String[] {"-1", null});
                int refusedBefore = sender.refused.get();
                panic("java: opted out mid-send");
                check(hung.await(20, TimeUnit.SECONDS), "the request reached the receiver");
                long cut = System.nanoTime();
                LibStatus.toggleCentralizedMetrics(false);
                waitFor(() -> sender.refused.get() > refusedBefore, 5_000, "the cancelled request's outcome");
                check(System.nanoTime() - cut < 5_000_000_000L, "cancelled, not timed out");
                check(sender.cancelled.get() > 0, "HttpURLConnection.disconnect was called");
                check(outbox(dataDir) == 0, "the report is gone from disk");
                check(MiniJson.parseObject(LibStatus.nativeNextPanicReport("{}")).get("none") == Boolean.TRUE,
                    "the next pull returns nothing");
            });
        } finally {
            sender.stop();
            server.stop(0);
            try (Stream<Path> walk = Files.walk(dataDir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    private static void start(int onPort) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), onPort), 16);
        server.createContext("/", exchange -> {
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readAllBytes();
            }
            String[] reply = replies.poll();
            if (reply == null) {
                reply = new String[] {"200", null};
            }
            synchronized (bodies) {
                arrivals.add(System.nanoTime());
                bodies.add(reply[0] + " " + new String(body, StandardCharsets.UTF_8));
            }
            if (reply[0].equals("-1")) {
                hung.countDown();
                try {
                    Thread.sleep(30_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                exchange.close();
                return;
            }
            if (reply[1] != null) {
                exchange.getResponseHeaders().add("Retry-After", reply[1]);
            }
            exchange.sendResponseHeaders(Integer.parseInt(reply[0]), -1);
            exchange.close();
        });
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "receiver");
            t.setDaemon(true);
            return t;
        }));
        server.start();
    }

    private static void panic(String message) {
        try {
            LibStatus.intendedPanic(message);
        } catch (LibStatusPanicException expected) {
            // The report is in the outbox.
        }
    }

    private static int count() {
        synchronized (bodies) {
            return bodies.size();
        }
    }

    private static long arrival(int index) {
        synchronized (bodies) {
            return arrivals.get(index);
        }
    }

    private static boolean delivered(String message) {
        synchronized (bodies) {
            return bodies.stream().anyMatch(b -> b.startsWith("200 ") && b.contains(message));
        }
    }

    private static long outbox(Path dataDir) throws IOException {
        try (Stream<Path> files = Files.list(dataDir.resolve("panic-reports"))) {
            return files.filter(p -> p.getFileName().toString().endsWith(".envelope")).count();
        }
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    interface Check {
        void run() throws Exception;
    }

    private static void waitFor(Condition condition, long ms, String what) throws Exception {
        long deadline = System.nanoTime() + ms * 1_000_000L;
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    private static void test(String name, Check check) {
        try {
            check.run();
            passed++;
            System.out.println("ok   " + name);
        } catch (Throwable t) {
            failed++;
            System.out.println("FAIL " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }
}
