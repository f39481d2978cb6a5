/* A C host for the benchmarks (bench/run.py builds it with gcc).
 *
 *   host MODE LIB [key=value ...]
 *
 * dlopens LIB (libstatus.so, or the stock-sentry contestant, or a peer from
 * ../shared/peers for `rss`) and runs one measurement, printing key=value
 * lines on stdout (the answers of InitializeApplication etc. go to stderr).
 *
 * Modes:
 *   panic     init opted in, then `windows` bursts of `per` IntendedPanic calls,
 *             each timed with clock_gettime; with admit=K>0 the first K of each
 *             burst are the ones storm control reports (the window is
 *             window_ms; the host sleeps past it between bursts), the rest
 *             are suppressed. Prints every latency (us), then times
 *             FlushPanicReports(flush_ms).
 *   rss       VmRSS (kB) before dlopen, after dlopen, after init, after the
 *             first panic (and settle_ms later), after the flush; for a
 *             library without InitializeApplication/IntendedPanic (the Go
 *             shape, the bare floor): after dlopen and after one
 *             CentralizedMetricsInfo call.
 *   coldinit  the time of dlopen and of the first InitializeApplication.
 *   storm     `total` panics from `threads` threads started together: wall
 *             time, panics/s, per-panic p50/p99/max, VmHWM; then the flush.
 *
 * Keys: datadir=DIR dsn=URL window_ms=N (panicStormWindowMs; 0 = not sent)
 * windows=N per=N admit=K settle_ms=N flush_ms=N budget_ms=N total=N
 * threads=N optin=0|1 (default 1; coldinit: 0, and untimed) print_init=0|1.
 * budget_ms bounds a mode's panicking part: a contestant whose panics block
 * (the stock sentry crate flushes for up to 2 s inside its panic hook) stops
 * early, and says how many it did. deadline_ms (default budget_ms + 10 s):
 * past it, a call that has not returned is reported as hung (hung=1,
 * hung_threads=N) and the process ends without flushing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef char *(*fn_str)(const char *);
typedef char *(*fn_void)(void);
typedef char *(*fn_int)(int);
typedef void (*fn_free)(void *);

static struct {
    void *handle;
    fn_str init, toggle, panic;
    fn_void info;
    fn_int flush;
    fn_free release;
} L;

static int g_argc;
static char **g_argv;

static const char *opt(const char *key, const char *fallback) {
    size_t n = strlen(key);
    for (int i = 3; i < g_argc; i++)
        if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=') return g_argv[i] + n + 1;
    return fallback;
}
static long opt_long(const char *key, long fallback) {
    const char *v = opt(key, NULL);
    return v ? atol(v) : fallback;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* CPU time of the calling thread: the work of a call, without the time it
 * waited for a core (the figures of a loaded machine are mostly waiting). */
static double cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {}
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"). */
static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(key);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') { kb = atol(line + n + 1); break; }
    fclose(f);
    return kb;
}

static void load(const char *path) {
    L.handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!L.handle) { fprintf(stderr, "dlopen: %s\n", dlerror()); exit(2); }
    L.init = (fn_str)dlsym(L.handle, "InitializeApplication");
    L.toggle = (fn_str)dlsym(L.handle, "ToggleCentralizedMetrics");
    L.panic = (fn_str)dlsym(L.handle, "IntendedPanic");
    L.info = (fn_void)dlsym(L.handle, "CentralizedMetricsInfo");
    L.flush = (fn_int)dlsym(L.handle, "FlushPanicReports");
    L.release = (fn_free)dlsym(L.handle, "Free");
    if (!L.release) { fprintf(stderr, "no Free in %s\n", path); exit(2); }
}

/* Calls and frees; returns 1 when the answer is an error object. */
static int answer_is_error(char *r, const char *what) {
    int err = !r || (strncmp(r, "{\"error\":\"", 10) == 0 && r[10] != '"');
    if (err || getenv("BENCH_VERBOSE")) fprintf(stderr, "%s: %s\n", what, r ? r : "(null)");
    L.release(r);
    return err;
}

static char init_json[4096];

static void init_library(void) {
    long window = opt_long("window_ms", 0);
    int n = snprintf(init_json, sizeof init_json, "{\"dataDir\":\"%s\",\"sentryDSN\":\"%s\"",
                     opt("datadir", "/tmp/bench-data"), opt("dsn", ""));
    if (window > 0) n += snprintf(init_json + n, sizeof init_json - n, ",\"panicStormWindowMs\":%ld", window);
    snprintf(init_json + n, sizeof init_json - n, "}");
    if (!L.init) { fprintf(stderr, "no InitializeApplication\n"); exit(2); }
    char *r = L.init(init_json);
    if (opt_long("print_init", 1)) printf("init_answer=%s\n", r ? r : "(null)");
    if (answer_is_error(r, "InitializeApplication")) exit(1);
}

static void opt_in(void) {
    if (opt_long("optin", 1) && L.toggle &&
        answer_is_error(L.toggle("{\"enabled\":true}"), "ToggleCentralizedMetrics"))
        exit(1);
}

static int panic_once(const char *message) {
    char *r = L.panic(message);
    int ok = r && strstr(r, "\"code\":\"panic\"") != NULL;
    if (!ok) fprintf(stderr, "IntendedPanic answered: %s\n", r ? r : "(null)");
    L.release(r);
    return ok;
}

static void timed_flush(void) {
    long ms = opt_long("flush_ms", 2000);
    if (!L.flush) return;
    double t = now_us();
    char *r = L.flush((int)ms);
    printf("flush_ms=%.1f\nflush_answer=%s\n", (now_us() - t) / 1e3, r ? r : "(null)");
    L.release(r);
}


static void print_list(const char *name, const double *xs, long n) {
    printf("%s=", name);
    for (long i = 0; i < n; i++) printf(i ? ",%.1f" : "%.1f", xs[i]);
    printf("\n");
}

/* The panic mode's results so far, for the watchdog to print if a call never returns. */
static double *rep, *sup, *rep_cpu, *sup_cpu, first = -1;
static volatile long nrep, nsup;

/* A call that never returns (the stock crate's panic hook blocks forever once its
 * transport queue is full and the server never answers): after deadline_ms,
 * print what was measured, say so, and end the process. */
static void *watchdog(void *arg) {
    sleep_ms((long)(intptr_t)arg);
    printf("hung=1\nfirst_us=%.1f\n", first);
    print_list("reported_us", rep, nrep);
    print_list("suppressed_us", sup, nsup);
    fflush(stdout);
    _exit(0);
    return NULL;
}

static void start_watchdog(long budget_ms) {
    pthread_t t;
    long deadline = opt_long("deadline_ms", budget_ms + 10000);
    pthread_create(&t, NULL, watchdog, (void *)(intptr_t)deadline);
    pthread_detach(t);
}

static int mode_panic(void) {
    long windows = opt_long("windows", 20), per = opt_long("per", 50), admit = opt_long("admit", 5);
    long window_ms = opt_long("window_ms", 0), budget_ms = opt_long("budget_ms", 60000);
    long overlong = 0;
    rep = calloc(windows * per, sizeof *rep);
    sup = calloc(windows * per, sizeof *sup);
    rep_cpu = calloc(windows * per, sizeof *rep_cpu);
    sup_cpu = calloc(windows * per, sizeof *sup_cpu);
    init_library();
    opt_in();
    sleep_ms(opt_long("settle_ms", 500));
    start_watchdog(budget_ms + windows * (window_ms + 10));
    double start = now_us();
    for (long w = 0; w < windows && now_us() - start < budget_ms * 1e3; w++) {
        double burst = now_us();
        for (long i = 0; i < per && now_us() - start < budget_ms * 1e3; i++) {
            double t = now_us(), c = cpu_us();
            if (!panic_once("bench panic")) return 1;
            double dt = now_us() - t, dc = cpu_us() - c;
            if (first < 0) first = dt;
            if (admit <= 0 || i < admit) { rep_cpu[nrep] = dc; rep[nrep++] = dt; }
            else { sup_cpu[nsup] = dc; sup[nsup++] = dt; }
        }
        if (admit > 0) {
            /* Storm control counts from a site's first panic in a window. */
            if (window_ms > 0 && now_us() - burst > window_ms * 1e3) overlong++;
            sleep_ms(window_ms > 0 ? window_ms + 10 : 0);
        }
    }
    printf("first_us=%.1f\n", first);
    printf("overlong_bursts=%ld\n", overlong);
    fflush(stdout);
    print_list("reported_us", rep, nrep);
    print_list("suppressed_us", sup, nsup);
    print_list("reported_cpu_us", rep_cpu, nrep);
    print_list("suppressed_cpu_us", sup_cpu, nsup);
    timed_flush();
    return 0;
}

static int mode_rss(void) {
    printf("before_dlopen_kb=%ld\n", status_kb("VmRSS"));
    load(g_argv[2]);
    printf("after_dlopen_kb=%ld\n", status_kb("VmRSS"));
    if (L.init && L.panic) {
        init_library();
        opt_in();
        printf("after_init_kb=%ld\n", status_kb("VmRSS"));
        sleep_ms(opt_long("settle_ms", 500));
        printf("after_init_settled_kb=%ld\n", status_kb("VmRSS"));
        if (!panic_once("bench rss")) return 1;
        printf("after_first_panic_kb=%ld\n", status_kb("VmRSS"));
        sleep_ms(opt_long("settle_ms", 500));
        printf("after_first_panic_settled_kb=%ld\n", status_kb("VmRSS"));
        timed_flush();
        printf("after_flush_kb=%ld\n", status_kb("VmRSS"));
    } else if (L.info) {
        L.release(L.info());
        printf("after_first_call_kb=%ld\n", status_kb("VmRSS"));
        sleep_ms(opt_long("settle_ms", 500));
        printf("after_first_call_settled_kb=%ld\n", status_kb("VmRSS"));
    }
    printf("hwm_kb=%ld\n", status_kb("VmHWM"));
    return 0;
}

static int mode_coldinit(void) {
    double t = now_us();
    load(g_argv[2]);
    double loaded = now_us();
    init_library();
    double done = now_us();
    printf("dlopen_us=%.1f\ninit_us=%.1f\n", loaded - t, done - loaded);
    if (opt_long("optin", 0)) opt_in(); /* untimed: the next start finds the user opted in */
    return 0;
}

static pthread_barrier_t storm_start;
static long storm_each, storm_budget_ms;
static double storm_t0;

struct storm_thread { pthread_t id; double *lat; volatile long done; volatile int failed, finished; };

static void *storm_worker(void *arg) {
    struct storm_thread *me = arg;
    pthread_barrier_wait(&storm_start);
    for (long i = 0; i < storm_each; i++) {
        if (now_us() - storm_t0 > storm_budget_ms * 1e3) break;
        double t = now_us();
        if (!panic_once("bench storm")) { me->failed = 1; break; }
        me->lat[me->done] = now_us() - t;
        __atomic_add_fetch(&me->done, 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&me->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int mode_storm(void) {
    long total = opt_long("total", 10000), threads = opt_long("threads", 4);
    storm_each = total / threads;
    storm_budget_ms = opt_long("budget_ms", 60000);
    init_library();
    opt_in();
    sleep_ms(opt_long("settle_ms", 500));
    struct storm_thread *ts = calloc(threads, sizeof *ts);
    pthread_barrier_init(&storm_start, NULL, threads + 1);
    for (long i = 0; i < threads; i++) {
        ts[i].lat = calloc(storm_each, sizeof(double));
        pthread_create(&ts[i].id, NULL, storm_worker, &ts[i]);
    }
    storm_t0 = now_us();
    pthread_barrier_wait(&storm_start);
    /* Wait for the threads, but not forever: a thread whose panic never
     * returns is counted as hung (then no flush: it would block too). */
    long done = 0, hung = 0, deadline_ms = opt_long("deadline_ms", storm_budget_ms + 10000);
    int failed = 0;
    double wall;
    for (;;) {
        long finished = 0;
        for (long i = 0; i < threads; i++) finished += __atomic_load_n(&ts[i].finished, __ATOMIC_ACQUIRE);
        wall = now_us() - storm_t0;
        if (finished == threads) break;
        if (wall > deadline_ms * 1e3) { hung = threads - finished; break; }
        sleep_ms(5);
    }
    for (long i = 0; i < threads; i++) {
        if (!hung) pthread_join(ts[i].id, NULL);
        done += __atomic_load_n(&ts[i].done, __ATOMIC_ACQUIRE);
        failed |= ts[i].failed;
    }
    double *all = malloc((done ? done : 1) * sizeof *all);
    long k = 0;
    for (long i = 0; i < threads; i++)
        for (long j = 0; j < ts[i].done; j++) all[k++] = ts[i].lat[j];
    qsort(all, done, sizeof *all, cmp_double);
    printf("panics=%ld\nwall_ms=%.1f\npanics_per_s=%.0f\n", done, wall / 1e3, done / (wall / 1e6));
    if (done)
        printf("p50_us=%.1f\np99_us=%.1f\nmax_us=%.1f\n", all[done / 2],
               all[(long)(done * 0.99) < done ? (long)(done * 0.99) : done - 1], all[done - 1]);
    printf("hwm_kb=%ld\nrss_kb=%ld\n", status_kb("VmHWM"), status_kb("VmRSS"));
    if (hung) {
        printf("hung_threads=%ld\n", hung);
        fflush(stdout);
        _exit(0);
    }
    timed_flush();
    return failed;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s panic|rss|coldinit|storm LIB [key=value ...]\n", argv[0]); return 2; }
    g_argc = argc;
    g_argv = argv;
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    const char *mode = argv[1];
    if (strcmp(mode, "rss") == 0) return mode_rss();
    if (strcmp(mode, "coldinit") == 0) return mode_coldinit();
    load(argv[2]);
    if (!L.panic) { fprintf(stderr, "no IntendedPanic in %s\n", argv[2]); return 2; }
    if (strcmp(mode, "panic") == 0) return mode_panic();
    if (strcmp(mode, "storm") == 0) return mode_storm();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
