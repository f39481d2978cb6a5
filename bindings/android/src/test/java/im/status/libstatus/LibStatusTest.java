package im.status.libstatus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The Java binding against the real libstatus.so (built with `--features jni`),
 * without a test framework: each check prints "ok"/"FAIL", the last line is
 * "N passed, M failed", and the exit status is non-zero on any failure.
 * Run by bindings/android/test.sh. The order matters: the first checks run
 * before InitializeApplication.
 */
public final class LibStatusTest {
    private static int passed;
    private static int failed;
    private static Path dataDir;

    interface Check {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        dataDir = Files.createTempDirectory("libstatus-java-");
        try {
            test("before InitializeApplication: not-initialized, IntendedPanic works", LibStatusTest::beforeInit);
            test("InitializeApplication with a temp dataDir", LibStatusTest::initialize);
            test("bad requests are LibStatusException invalid-request, not panics", LibStatusTest::badRequests);
            test("consent toggles and CentralizedMetricsInfo reads it back", LibStatusTest::consent);
            test("IntendedPanic throws LibStatusPanicException with the message", LibStatusTest::panic);
            test("the raw native answer of IntendedPanic is error-first JSON", LibStatusTest::rawPanicAnswer);
            test("emoji and other non-BMP / non-ASCII JSON round-trip intact", LibStatusTest::emojiRoundTrip);
            test("NUL and a lone surrogate do not break the glue", LibStatusTest::oddStrings);
            test("IntendedBackgroundPanic and FlushPanicReports", LibStatusTest::backgroundAndFlush);
            test("PanicReports lists, DeletePanicReports deletes", LibStatusTest::reports);
            test("8 Java threads call every export at once", LibStatusTest::threads);
            test("no leak: 1000 calls reading and answering 128 KiB keep the RSS flat", LibStatusTest::noLeak);
        } finally {
            deleteTree(dataDir);
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    private static void test(String name, Check check) {
        long started = System.nanoTime();
        try {
            check.run();
            passed++;
            System.out.printf("ok   %s (%d ms)%n", name, (System.nanoTime() - started) / 1_000_000);
        } catch (Throwable t) {
            failed++;
            System.out.println("FAIL " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    // ---- checks ----

    private static void beforeInit() {
        LibStatusException e = expectThrows(LibStatusException.class, LibStatus::centralizedMetricsInfo);
        eq("not-initialized", e.getCode());
        check(!(e instanceof LibStatusPanicException), "not a panic exception");
        e = expectThrows(LibStatusException.class, () -> LibStatus.toggleCentralizedMetrics(true));
        eq("not-initialized", e.getCode());
        LibStatusPanicException p = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic("before init"));
        eq("before init", p.getMessage());
        Map<String, Object> flush = MiniJson.parseObject(LibStatus.flushPanicReports(0));
        eq("", flush.get("error"));
        eq(0L, flush.get("pending"));
    }

    private static void initialize() {
        String answer = LibStatus.initializeApplication(
            "{\"dataDir\":" + quote(dataDir.toString()) + ",\"logEnabled\":false,\"mixpanelAppId\":\"ignored\"}");
        Map<String, Object> object = MiniJson.parseObject(answer);
        Map<String, Object> info = asObject(object.get("centralizedMetricsInfo"));
        eq(Boolean.FALSE, info.get("enabled"));
        eq(Boolean.FALSE, info.get("userConfirmed"));
        Map<String, Object> reporting = asObject(object.get("panicReporting"));
        for (String key : new String[] {"active", "reason", "environment", "contextName", "contextVersion"}) {
            check(reporting.containsKey(key), "panicReporting." + key + " in " + answer);
        }
        check(reporting.get("active") instanceof Boolean, "active is a boolean");
        check(Files.isDirectory(dataDir), "dataDir exists");
    }

    private static void badRequests() {
        for (String junk : new String[] {"", "not json", "[1,2]", "\"text\"", "{", "null", "{}"}) {
            LibStatusException e = expectThrows(LibStatusException.class, () -> LibStatus.initializeApplication(junk));
            eq("invalid-request", e.getCode());
            check(!(e instanceof LibStatusPanicException), "not a panic for " + junk);
            check(!e.getMessage().isEmpty(), "a message");
        }
        LibStatusException e = expectThrows(LibStatusException.class, () -> LibStatus.toggleCentralizedMetrics((String) null));
        eq("invalid-request", e.getCode());
        eq("request is NULL", e.getMessage());
        e = expectThrows(LibStatusException.class, () -> LibStatus.toggleCentralizedMetrics("{\"enabled\":\"yes\"}"));
        eq("invalid-request", e.getCode());
        e = expectThrows(LibStatusException.class, () -> LibStatus.intendedPanic(null));
        eq("invalid-request", e.getCode());
        e = expectThrows(LibStatusException.class, () -> LibStatus.flushPanicReports(-1));
        eq("invalid-request", e.getCode());
        e = expectThrows(LibStatusException.class, () -> LibStatus.flushPanicReports(60_001));
        eq("invalid-request", e.getCode());
        // Over 1 MiB is refused (counted in UTF-8 bytes, after decoding).
        String big = "x".repeat(1024 * 1024 + 1);
        e = expectThrows(LibStatusException.class, () -> LibStatus.intendedPanic(big));
        eq("invalid-request", e.getCode());
    }

    private static void consent() {
        eq("{\"error\":\"\"}", LibStatus.toggleCentralizedMetrics(true));
        eq("{\"enabled\":true,\"userConfirmed\":true}", LibStatus.centralizedMetricsInfo());
        eq("{\"error\":\"\"}", LibStatus.toggleCentralizedMetrics("{\"enabled\":false,\"extra\":1}"));
        Map<String, Object> info = MiniJson.parseObject(LibStatus.centralizedMetricsInfo());
        eq(Boolean.FALSE, info.get("enabled"));
        eq(Boolean.TRUE, info.get("userConfirmed"));
        // Durable: a second initialization reads the stored opt-in.
        Map<String, Object> again = MiniJson.parseObject(
            LibStatus.initializeApplication("{\"dataDir\":" + quote(dataDir.toString()) + "}"));
        eq(Boolean.TRUE, asObject(again.get("centralizedMetricsInfo")).get("userConfirmed"));
    }

    private static void panic() {
        LibStatusPanicException e = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic("force crash from Java"));
        eq("panic", e.getCode());
        eq("force crash from Java", e.getMessage());
        check(e instanceof LibStatusException && e instanceof RuntimeException, "class hierarchy");
        // Sensitive JSON values in the message are masked.
        e = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic("bad {\"password\":\"hunter2\"}"));
        eq("bad {\"password\":\"***\"}", e.getMessage());
        // The library goes on.
        MiniJson.parseObject(LibStatus.centralizedMetricsInfo());
    }

    private static void rawPanicAnswer() {
        String answer = LibStatus.nativeIntendedPanic("raw \"quoted\"");
        eq("{\"error\":\"raw \\\"quoted\\\"\",\"code\":\"panic\"}", answer);
        String info = LibStatus.nativeCentralizedMetricsInfo();
        check(info.startsWith("{\"enabled\":"), info);
    }

    private static void emojiRoundTrip() {
        String[] samples = {
            "{\"greeting\":\"hello 😀 👩‍👩‍👧‍👦 🇨🇭\",\"math\":\"𝔘𝔫𝔦𝔠𝔬𝔡𝔢\"}",
            "héllo wörld — 中文 日本語 한국어 العربية",
            "\uD83D\uDE00",                 // one emoji, as a surrogate pair
            "𐍈 U+10348 and U+10FFFF: \uDBFF\uDFFF",
            "tab\tnewline\nquote\"backslash\\",
        };
        for (String sample : samples) {
            LibStatusPanicException e = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic(sample));
            eq(sample, e.getMessage());
            // The raw answer decodes to the same text (raw characters or backslash-u
            // escapes: the contract allows both).
            String raw = LibStatus.nativeIntendedPanic(sample);
            eq(sample, MiniJson.parseObject(raw).get("error"));
        }
        // Backslash-u escapes with surrogate pairs decode to the same characters.
        eq("😀", MiniJson.parseObject("{\"error\":\"\\ud83d\\ude00\"}").get("error"));
    }

    private static void oddStrings() {
        // NUL is legal in a Java string (modified UTF-8 encodes it as C0 80).
        LibStatusPanicException e = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic("a\u0000b"));
        eq("a\u0000b", e.getMessage());
        // A lone surrogate is not valid Unicode: it must not crash; it comes back replaced.
        e = expectThrows(LibStatusPanicException.class, () -> LibStatus.intendedPanic("x\uD800y"));
        check(e.getMessage().startsWith("x") && e.getMessage().endsWith("y"), e.getMessage());
    }

    private static void reports() {
        Map<String, Object> listed = MiniJson.parseObject(LibStatus.panicReports("{\"limit\":10}"));
        eq("", listed.get("error"));
        check(listed.get("pending") instanceof java.util.List, "pending is a list: " + listed);
        check(listed.get("sent") instanceof java.util.List, "sent is a list: " + listed);
        check(listed.get("dropped") instanceof Map, "dropped is an object: " + listed);
        eq("{\"error\":\"\",\"deleted\":0,\"notPending\":1}",
            LibStatus.deletePanicReports("{\"ids\":[\"no-such-report\"]}"));
        Map<String, Object> all = MiniJson.parseObject(LibStatus.deletePanicReports("{\"all\":true}"));
        check(all.get("deleted") instanceof Long, "deleted is a count: " + all);
        LibStatusException e = expectThrows(LibStatusException.class, () -> LibStatus.deletePanicReports("{}"));
        eq("invalid-request", e.getCode());
    }

    private static void backgroundAndFlush() {
        eq("{\"error\":\"\"}", LibStatus.intendedBackgroundPanic("background from Java 😀"));
        Map<String, Object> flush = MiniJson.parseObject(LibStatus.flushPanicReports(100));
        eq("", flush.get("error"));
        check(flush.get("pending") instanceof Long && (Long) flush.get("pending") >= 0, "pending is a count: " + flush);
    }

    private static void threads() throws Exception {
        int threads = 8;
        int rounds = 50;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Integer>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Callable<Integer> job = () -> {
                start.await();
                int calls = 0;
                for (int i = 0; i < rounds; i++) {
                    String message = "thread " + id + " round " + i + " 😀";
                    try {
                        LibStatus.intendedPanic(message);
                        throw new AssertionError("no exception");
                    } catch (LibStatusPanicException e) {
                        eq(message, e.getMessage());
                    }
                    Map<String, Object> info = MiniJson.parseObject(LibStatus.centralizedMetricsInfo());
                    check(info.get("enabled") instanceof Boolean, "info");
                    eq("{\"error\":\"\"}", LibStatus.toggleCentralizedMetrics(false));
                    eq("", MiniJson.parseObject(LibStatus.flushPanicReports(0)).get("error"));
                    if (i % 10 == 0) {
                        eq("{\"error\":\"\"}", LibStatus.intendedBackgroundPanic(message));
                        MiniJson.parseObject(LibStatus.initializeApplication(
                            "{\"dataDir\":" + quote(dataDir.toString()) + "}"));
                    }
                    calls += 4;
                }
                return calls;
            };
            futures.add(pool.submit(job));
        }
        start.countDown();
        int total = 0;
        for (Future<Integer> f : futures) {
            total += f.get(120, TimeUnit.SECONDS);
        }
        pool.shutdown();
        check(total == threads * rounds * 4, "every call answered: " + total);
    }

    private static void noLeak() throws Exception {
        // ToggleCentralizedMetrics echoes a wrong-typed value in its error
        // (serde's "invalid type: string ..."), so each call reads a 128 KiB Java
        // string and answers about as much, without the cost of a panic. Mostly
        // ASCII: a debug build escapes non-ASCII slowly.
        String chunk = "0123456789abcdef".repeat(128 * 1024 / 16) + "😀";
        String request = "{\"enabled\":" + quote(chunk) + "}";
        Runnable round = () -> {
            String raw = LibStatus.nativeToggleCentralizedMetrics(request);
            if (raw.length() < chunk.length() || !raw.contains("\"code\":\"invalid-request\"")) {
                throw new AssertionError("unexpected answer: " + raw.substring(0, Math.min(200, raw.length())));
            }
        };
        for (int i = 0; i < 150; i++) {
            round.run(); // warm up: JIT, heap, allocator arenas
        }
        System.gc();
        long before = rssKiB();
        int calls = 1000;
        for (int i = 0; i < calls; i++) {
            round.run();
        }
        System.gc();
        long after = rssKiB();
        long growthMiB = (after - before) / 1024;
        long leakedIfLeakingMiB = (long) calls * chunk.length() / (1024 * 1024);
        System.out.printf("     RSS %d MiB -> %d MiB (+%d MiB; leaking each answer would add > %d MiB)%n",
            before / 1024, after / 1024, growthMiB, leakedIfLeakingMiB);
        check(growthMiB < 64, "RSS grew by " + growthMiB + " MiB");
    }

    // ---- helpers ----

    private static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS in /proc/self/status");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asObject(Object value) {
        check(value instanceof Map, "an object: " + value);
        return (Map<String, Object>) value;
    }

    private static <T extends Throwable> T expectThrows(Class<T> type, Check body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
    }

    private static void eq(Object expected, Object actual) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError("expected <" + expected + "> but was <" + actual + ">");
        }
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    private static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
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

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
