/*
 * example.c: the smallest useful C host of libstatus.
 *
 * Build (after `cargo build` at the repository root):
 *     make -C bindings/c example            # links target/debug/libstatus.so
 *     LD_LIBRARY_PATH=target/debug bindings/c/example /tmp/my-data-dir
 * or, against an installed copy (see `make install` in this folder):
 *     cc example.c $(pkg-config --cflags --libs libstatus) -o example
 *
 * The three rules every host follows:
 *   1. Every function returns a fresh, NUL-terminated UTF-8 JSON object.
 *   2. Copy what you need, then give the answer back to Free() exactly once
 *      (never to free(): the library owns its allocator).
 *   3. An answer whose first key is a non-empty "error" is a failure; its "code"
 *      is one of invalid-request, not-initialized, internal, or panic (the
 *      library caught a panic: a bug in the library, reported to Sentry for
 *      users who opted in; the process keeps running).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libstatus.h"

/* Prints the answer of one call, frees it, and tells whether it succeeded. */
static int show(const char *call, char *answer) {
    if (answer == NULL) { /* never expected; a host should still not crash on it */
        fprintf(stderr, "%s: no answer\n", call);
        return 0;
    }
    /* status-go's convention: failure <=> a non-empty "error" value. */
    int failed = strncmp(answer, "{\"error\":\"", 10) == 0 && answer[10] != '"';
    int panicked = failed && strstr(answer, "\"code\":\"panic\"") != NULL;
    printf("%-28s %s %s\n", call, failed ? (panicked ? "PANIC" : "ERROR") : "ok   ", answer);
    Free(answer); /* exactly once, after the last use of `answer` */
    return !failed;
}

int main(int argc, char **argv) {
    const char *data_dir = argc > 1 ? argv[1] : "/tmp/libstatus-example";
    char request[1024];
    /* Real hosts should build this JSON with a JSON library (escaping the path). */
    snprintf(request, sizeof request, "{\"dataDir\":\"%s\",\"logEnabled\":false}", data_dir);

    int ok = show("InitializeApplication", InitializeApplication(request));
    /* The user's answer to the metrics/crash-reporting prompt. Opting out here keeps
     * the deliberate panic below from being reported if a DSN is configured. */
    ok &= show("ToggleCentralizedMetrics", ToggleCentralizedMetrics("{\"enabled\":false}"));
    ok &= show("CentralizedMetricsInfo", CentralizedMetricsInfo());

    /* A deliberate panic inside the library: answered as an error, never a crash. */
    int panic_ok = show("IntendedPanic", IntendedPanic("example panic"));

    ok &= show("FlushPanicReports", FlushPanicReports(1000));
    return ok && !panic_ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
