/*
 * A host that links status-go's library and the prefixed libstatus at once, as
 * status-desktop would while it migrates: status-go's exports keep their names
 * (here the Go peer ../shared/peers/go-cshared, status-go's export shape:
 * CentralizedMetricsInfo, ToggleCentralizedMetricsInMemory, Free), libstatus's
 * are libstatus_<Name> (libstatus_rs.h). Built and run by tests/hosts.rs.
 *
 *   coexist DATADIR REQUEST...
 *
 * Checks that each call reaches its own library (separate state, each answer
 * freed by its own library's Free), then, for each REQUEST, sends it to both
 * ToggleCentralizedMetrics implementations and prints one line:
 *   go=<answer> go_info=<info> rs=<answer> rs_info=<info>
 * so the test can compare Go's encoding/json with libstatus's reading.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libstatus_rs.h"

/* status-go's exports (cgo's header declares them without const). */
extern char *CentralizedMetricsInfo(void);
extern char *ToggleCentralizedMetricsInMemory(char *request);
extern void Free(void *param);

static int failures;

static void expect(const char *what, char *answer, const char *want, void (*free_fn)(void *)) {
    int ok = answer != NULL && (want[0] == '~' ? strstr(answer, want + 1) != NULL : strcmp(answer, want) == 0);
    printf("%s - %s: %s\n", ok ? "ok" : "FAIL", what, answer ? answer : "(null)");
    if (!ok) failures++;
    free_fn(answer);
}

static void libstatus_free(void *p) { libstatus_Free(p); }
static void go_free(void *p) { Free(p); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATADIR [REQUEST...]\n", argv[0]);
        return 2;
    }
    char request[4096];
    snprintf(request, sizeof request, "{\"dataDir\":\"%s\"}", argv[1]);
    expect("libstatus_InitializeApplication", libstatus_InitializeApplication(request),
           "~\"centralizedMetricsInfo\":{\"enabled\":false,\"userConfirmed\":false}", libstatus_free);

    expect("status-go ToggleCentralizedMetricsInMemory(enabled)", ToggleCentralizedMetricsInMemory("{\"enabled\":true}"),
           "{\"error\":\"\"}", go_free);
    expect("status-go CentralizedMetricsInfo", CentralizedMetricsInfo(), "{\"enabled\":true,\"userConfirmed\":true}",
           go_free);
    expect("libstatus_CentralizedMetricsInfo: its own state, untouched", libstatus_CentralizedMetricsInfo(),
           "{\"enabled\":false,\"userConfirmed\":false}", libstatus_free);
    expect("libstatus_IntendedPanic is caught; the process goes on", libstatus_IntendedPanic("beside status-go"),
           "{\"error\":\"beside status-go\",\"code\":\"panic\"}", libstatus_free);
    expect("status-go still answers after it", CentralizedMetricsInfo(), "{\"enabled\":true,\"userConfirmed\":true}",
           go_free);
    expect("libstatus_FlushPanicReports", libstatus_FlushPanicReports(0), "~{\"error\":\"\",\"pending\":", libstatus_free);

    for (int i = 2; i < argc; i++) {
        /* Start each from "enabled" on both sides, so an opt-out shows. */
        Free(ToggleCentralizedMetricsInMemory("{\"enabled\":true}"));
        libstatus_Free(libstatus_ToggleCentralizedMetrics("{\"enabled\":true}"));
        char *go = ToggleCentralizedMetricsInMemory(argv[i]);
        char *go_info = CentralizedMetricsInfo();
        char *rs = libstatus_ToggleCentralizedMetrics(argv[i]);
        char *rs_info = libstatus_CentralizedMetricsInfo();
        printf("go=%s go_info=%s rs=%s rs_info=%s\n", go, go_info, rs, rs_info);
        Free(go);
        Free(go_info);
        libstatus_Free(rs);
        libstatus_Free(rs_info);
    }
    printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
