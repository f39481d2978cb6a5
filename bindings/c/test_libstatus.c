/*
 * Host-style test of the libstatus C ABI, as a C (or Qt/C++) application uses it.
 *
 * Every answer is copied and handed back to Free exactly once (see call()). The
 * test is meant to run under valgrind too (bindings/c/test.sh does), so it frees
 * everything it allocates and joins every thread it starts.
 *
 * Output: one "ok - ..." or "FAIL - ..." line per check, then "N passed, M failed".
 * Exit status: 0 only if every check passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libstatus.h"

#ifdef _WIN32
/* mingw has no mkdtemp: a unique name, then the folder. */
#include <direct.h>
#include <io.h>
#include <windows.h>
static void pause_ms(unsigned ms) { Sleep(ms); }
#else
#include <time.h>
static void pause_ms(unsigned ms) {
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}
#endif
#ifdef _WIN32
static char *mkdtemp(char *template) {
    if (_mktemp_s(template, strlen(template) + 1) != 0 || _mkdir(template) != 0) return NULL;
    return template;
}
#endif

/* A path as a JSON string's content: backslashes (Windows paths) and quotes escaped. */
static void json_path(char *out, size_t size, const char *path) {
    size_t n = 0;
    for (; *path && n + 2 < size; path++) {
        if (*path == '\\' || *path == '"') out[n++] = '\\';
        out[n++] = *path;
    }
    out[n] = 0;
}

static int passed, failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char *what, const char *answer) {
    pthread_mutex_lock(&report_lock);
    if (ok) {
        passed++;
        printf("ok - %s\n", what);
    } else {
        failed++;
        printf("FAIL - %s%s%s\n", what, answer ? "; answer: " : "", answer ? answer : "");
    }
    fflush(stdout);
    pthread_mutex_unlock(&report_lock);
}

/* ---- answers: copy, then Free ------------------------------------------- */

/* Takes ownership of a library answer: returns a malloc'd copy the test owns and
 * gives the original back to the library's Free, exactly once. NULL stays NULL. */
static char *take(char *answer) {
    if (answer == NULL) return NULL;
    char *copy = strdup(answer);
    Free(answer);
    if (copy == NULL) { perror("strdup"); exit(2); }
    return copy;
}

/* status-go's Android convention: a success of a no-payload endpoint starts with
 * {"error":""}. Payload answers have no "error" key on success. */
static int is_exact_ok(const char *a) { return a != NULL && strcmp(a, "{\"error\":\"\"}") == 0; }

/* A failure is an object whose first key is a non-empty "error". */
static int is_error(const char *a) {
    return a != NULL && strncmp(a, "{\"error\":\"", 10) == 0 && a[10] != '"';
}

static int has_code(const char *a, const char *code) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"code\":\"%s\"", code);
    return a != NULL && strstr(a, needle) != NULL;
}

/* ---- minimal JSON string decoding ----------------------------------------
 * Finds "key": at the top level of a flat object and decodes its string value
 * into UTF-8, handling every JSON escape including \uD83D\uDCA5 surrogate pairs.
 * Good enough for the library's answers (flat objects with string/bool/number
 * values); not a general JSON parser. Returns a malloc'd string or NULL. */
static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

static char *json_string_field(const char *json, const char *key) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":\"", key);
    const char *p = json ? strstr(json, needle) : NULL;
    if (p == NULL) return NULL;
    p += strlen(needle);
    char *out = malloc(strlen(p) + 1); /* decoded text is never longer than encoded */
    if (out == NULL) return NULL;
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') { out[n++] = *p++; continue; }
        p++;
        switch (*p) {
        case '"': case '\\': case '/': out[n++] = *p++; break;
        case 'b': out[n++] = '\b'; p++; break;
        case 'f': out[n++] = '\f'; p++; break;
        case 'n': out[n++] = '\n'; p++; break;
        case 'r': out[n++] = '\r'; p++; break;
        case 't': out[n++] = '\t'; p++; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(p + 1, &cp)) goto bad;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* high surrogate: needs its low half */
                if (p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto bad; /* lone low surrogate */
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default: goto bad;
        }
    }
    if (*p != '"') goto bad;
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- the checks ------------------------------------------------------------ */

static const char EMOJI_MSG[] = "\xF0\x9F\x92\xA5 emoji \xF0\x9F\x98\x80"; /* "💥 emoji 😀" */

static void test_before_init(void) {
    char *a = take(CentralizedMetricsInfo());
    check(is_error(a) && has_code(a, "not-initialized"),
          "CentralizedMetricsInfo before InitializeApplication answers code not-initialized", a);
    free(a);

    a = take(ToggleCentralizedMetrics("{\"enabled\":true}"));
    check(is_error(a) && has_code(a, "not-initialized"),
          "ToggleCentralizedMetrics before InitializeApplication answers code not-initialized", a);
    free(a);

    a = take(PanicReports("{}"));
    check(is_error(a) && has_code(a, "not-initialized"),
          "PanicReports before InitializeApplication answers code not-initialized", a);
    free(a);
}

static void test_invalid_requests(const char *data_dir) {
    char req[4096];
    char *a = take(InitializeApplication("{not json"));
    check(is_error(a) && has_code(a, "invalid-request"), "InitializeApplication(malformed JSON) is invalid-request", a);
    free(a);

    a = take(InitializeApplication("{}"));
    check(is_error(a) && has_code(a, "invalid-request"), "InitializeApplication({}) without dataDir is invalid-request", a);
    free(a);

    a = take(InitializeApplication(NULL));
    check(is_error(a) && has_code(a, "invalid-request"), "InitializeApplication(NULL) is invalid-request", a);
    free(a);

    /* invalid UTF-8 (a truncated sequence) in an otherwise valid request */
    snprintf(req, sizeof req, "{\"dataDir\":\"%s\",\"note\":\"\xC3\x28\"}", data_dir);
    a = take(InitializeApplication(req));
    check(is_error(a) && has_code(a, "invalid-request"), "InitializeApplication(invalid UTF-8) is invalid-request", a);
    free(a);
}

/* LIBSTATUS_TEST_DSN: a Sentry DSN (a loopback receiver) for the reported panic at the end. */
static const char *test_dsn(void) {
    const char *dsn = getenv("LIBSTATUS_TEST_DSN");
    return dsn && *dsn ? dsn : NULL;
}

static void test_initialize(const char *data_dir) {
    char req[4096];
    if (test_dsn())
        /* (a storm window of 100 ms: the reported panic comes in a window of its own) */
        snprintf(req, sizeof req,
                 "{\"dataDir\":\"%s\",\"logEnabled\":false,\"sentryDSN\":\"%s\",\"panicStormWindowMs\":100}",
                 data_dir, test_dsn());
    else
        snprintf(req, sizeof req, "{\"dataDir\":\"%s\",\"logEnabled\":false}", data_dir);
    char *a = take(InitializeApplication(req));
    check(a != NULL && a[0] == '{' && strstr(a, "\"error\"") == NULL &&
              strstr(a, "\"centralizedMetricsInfo\":{") != NULL && strstr(a, "\"panicReporting\":{") != NULL &&
              strstr(a, "\"active\":") != NULL,
          "InitializeApplication(temp dataDir) answers centralizedMetricsInfo and panicReporting, no error", a);
    if (test_dsn())
        check(a != NULL && strstr(a, "\"reason\":\"the user has not opted in") != NULL,
              "with LIBSTATUS_TEST_DSN (and SENTRY_ENVIRONMENT), only the opt-in is missing for reporting", a);
    free(a);

    a = take(ToggleCentralizedMetrics("not json"));
    check(is_error(a) && has_code(a, "invalid-request"), "ToggleCentralizedMetrics(malformed JSON) is invalid-request", a);
    free(a);
}

static void test_consent(void) {
    char *a = take(ToggleCentralizedMetrics("{\"enabled\":true}"));
    check(is_exact_ok(a), "ToggleCentralizedMetrics(enabled:true) answers exactly {\"error\":\"\"}", a);
    free(a);

    a = take(CentralizedMetricsInfo());
    check(a && !is_error(a) && strstr(a, "\"enabled\":true") && strstr(a, "\"userConfirmed\":true"),
          "CentralizedMetricsInfo after opt-in is enabled and userConfirmed", a);
    free(a);

    a = take(ToggleCentralizedMetrics("{\"enabled\":false}"));
    check(is_exact_ok(a), "ToggleCentralizedMetrics(enabled:false) answers exactly {\"error\":\"\"}", a);
    free(a);

    a = take(CentralizedMetricsInfo());
    check(a && !is_error(a) && strstr(a, "\"enabled\":false") && strstr(a, "\"userConfirmed\":true"),
          "CentralizedMetricsInfo after opt-out is disabled and still userConfirmed", a);
    free(a);
}

static void test_panic(void) {
    char *a = take(IntendedPanic("boom from C"));
    char *msg = json_string_field(a, "error");
    check(is_error(a) && has_code(a, "panic") && msg && strcmp(msg, "boom from C") == 0,
          "IntendedPanic answers code panic carrying the message, and the host survives", a);
    free(msg);
    free(a);

    a = take(IntendedPanic("quote \" backslash \\ newline \n tab \t"));
    msg = json_string_field(a, "error");
    check(msg && strcmp(msg, "quote \" backslash \\ newline \n tab \t") == 0,
          "IntendedPanic message with JSON escapes round-trips", a);
    free(msg);
    free(a);
}

static void test_non_bmp(void) {
    char *a = take(IntendedPanic(EMOJI_MSG));
    char *msg = json_string_field(a, "error");
    check(has_code(a, "panic") && msg && strcmp(msg, EMOJI_MSG) == 0,
          "non-BMP characters (U+1F4A5, U+1F600) round-trip through IntendedPanic", a);
    free(msg);
    free(a);

    a = take(ToggleCentralizedMetrics("{\"enabled\":false,\"note\":\"\xF0\x9F\x92\xA5 emoji \xF0\x9F\x98\x80\"}"));
    check(is_exact_ok(a), "a request JSON carrying raw non-BMP UTF-8 in an unknown key is accepted", a);
    free(a);

    a = take(ToggleCentralizedMetrics("{\"enabled\":false,\"note\":\"\\ud83d\\udca5\"}"));
    check(is_exact_ok(a), "a request JSON carrying an escaped surrogate pair is accepted", a);
    free(a);
}

static void test_background_and_flush(void) {
    char *a = take(IntendedBackgroundPanic("background boom from C"));
    check(is_exact_ok(a), "IntendedBackgroundPanic answers {\"error\":\"\"} and the host survives", a);
    free(a);

    a = take(FlushPanicReports(2000));
    check(a && strncmp(a, "{\"error\":\"\"", 11) == 0 && strstr(a, "\"pending\":") != NULL,
          "FlushPanicReports(2000) answers error \"\" and a pending count", a);
    free(a);

    a = take(CentralizedMetricsInfo());
    check(a && !is_error(a), "the library still answers after a background panic", a);
    free(a);

    Free(NULL);
    check(1, "Free(NULL) is a no-op", NULL);
}

/* ---- what is sent: PanicReports, DeletePanicReports ---------------------- */

static void test_reports(void) {
    char *a = take(PanicReports("{\"limit\":10}"));
    check(a && strncmp(a, "{\"error\":\"\",\"pending\":[", 23) == 0 && strstr(a, "\"sent\":[") &&
              strstr(a, "\"dropped\":{") && strstr(a, "\"pendingTotal\":"),
          "PanicReports({limit:10}) answers pending, sent and dropped", a);
    free(a);

    a = take(PanicReports("{\"limit\":0}"));
    check(is_error(a) && has_code(a, "invalid-request"), "PanicReports({limit:0}) is invalid-request", a);
    free(a);

    a = take(DeletePanicReports("{\"ids\":[\"no-such-report\"]}"));
    check(a && strcmp(a, "{\"error\":\"\",\"deleted\":0,\"notPending\":1}") == 0,
          "DeletePanicReports({ids:[unknown]}) deletes nothing and says so", a);
    free(a);

    a = take(DeletePanicReports("{\"all\":true}"));
    check(a && strncmp(a, "{\"error\":\"\",\"deleted\":", 22) == 0,
          "DeletePanicReports({all:true}) answers how many it deleted", a);
    free(a);

    a = take(PanicReports("{}"));
    check(a && strstr(a, "\"pending\":[]") && strstr(a, "\"sent\":[]"),
          "after DeletePanicReports({all:true}) nothing is pending and the sent history is empty", a);
    free(a);

    a = take(DeletePanicReports("{}"));
    check(is_error(a) && has_code(a, "invalid-request"), "DeletePanicReports({}) is invalid-request", a);
    free(a);
}

/* With LIBSTATUS_TEST_DSN: an opted-in user's panic reaches the receiver. */
static void test_reported_panic(void) {
    char *a = take(ToggleCentralizedMetrics("{\"enabled\":true}"));
    check(is_exact_ok(a), "opt-in before the reported panic", a);
    free(a);
    pause_ms(300); /* past the storm window of the threads' panics */
    a = take(IntendedPanic("reported from the C host"));
    check(has_code(a, "panic"), "IntendedPanic (opted in) answers code panic", a);
    free(a);
    a = take(FlushPanicReports(20000));
    check(a && strstr(a, "\"pending\":0") != NULL, "FlushPanicReports(20000) delivers every report (pending 0)", a);
    free(a);
}

/* ---- several host threads at once ---------------------------------------- */

enum { THREADS = 8 };
static int rounds_per_thread = 25; /* LIBSTATUS_TEST_ROUNDS overrides (valgrind runs use fewer) */

struct worker { int id; int bad; char first_bad[512]; };

static void note_bad(struct worker *w, const char *what, const char *a) {
    if (w->bad++ == 0) snprintf(w->first_bad, sizeof w->first_bad, "%s: %s", what, a ? a : "(null)");
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    char expect[128];
    for (int i = 0; i < rounds_per_thread; i++) {
        char *a = take(ToggleCentralizedMetrics((w->id + i) % 2 ? "{\"enabled\":true}" : "{\"enabled\":false}"));
        if (!is_exact_ok(a)) note_bad(w, "toggle", a);
        free(a);

        a = take(CentralizedMetricsInfo());
        if (!a || is_error(a) || !strstr(a, "\"userConfirmed\":true")) note_bad(w, "info", a);
        free(a);

        snprintf(expect, sizeof expect, "thread %d round %d %s", w->id, i, EMOJI_MSG);
        a = take(IntendedPanic(expect));
        char *msg = json_string_field(a, "error");
        if (!has_code(a, "panic") || !msg || strcmp(msg, expect) != 0) note_bad(w, "panic", a);
        free(msg);
        free(a);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    struct worker w[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        if (pthread_create(&t[i], NULL, worker_main, &w[i]) == 0) started++;
        else break;
    }
    int bad = 0;
    const char *first = NULL;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        bad += w[i].bad;
        if (w[i].bad && !first) first = w[i].first_bad;
    }
    char what[160];
    snprintf(what, sizeof what, "%d host threads x %d rounds of toggle/info/panic at once (%d bad answers)",
             THREADS, rounds_per_thread, bad);
    check(started == THREADS && bad == 0, what, first);
}

int main(void) {
    /* dataDir: a fresh folder under $TMPDIR (test.sh points it at its own work folder) */
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == 0) tmp = getenv("TEMP"); /* Windows */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/libstatus-c-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) { perror("mkdtemp"); return 2; }
    const char *rounds = getenv("LIBSTATUS_TEST_ROUNDS");
    if (rounds && atoi(rounds) > 0) rounds_per_thread = atoi(rounds);

    char dir_json[2048];
    json_path(dir_json, sizeof dir_json, dir);

    test_before_init();
    test_invalid_requests(dir_json);
    test_initialize(dir_json);
    test_consent();
    test_panic();
    test_non_bmp();
    test_threads();
    test_background_and_flush();
    test_reports();
    if (test_dsn()) test_reported_panic();

    /* The temp dataDir is left for the caller (test.sh) to remove: the library may
     * still write to it from its own threads until the process exits. */
    printf("dataDir: %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
