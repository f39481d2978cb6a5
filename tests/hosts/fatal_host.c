/* A C host for tests/fatal.rs: loads libstatus.so (built with the test-only
 * `TestPanic`), initialises it with `reportFatalErrors`, and then does one
 * fatal thing. Run as a child: most actions end the process.
 *
 * usage: fatal_host <libstatus.so> <dataDir> <dsn> <action>
 * actions: kind:N (TestPanic(N)), dangling (ToggleCentralizedMetrics with a
 * dangling non-NULL pointer), host-segv (the host's own bad write), go (the
 * Go peer's recovered nil dereference), none.
 * environment: FATAL_HOST_HANDLER=1 installs the host's own SIGSEGV/SIGABRT
 * handler before InitializeApplication (it prints and exits 42);
 * FATAL_OPTION=0 leaves reportFatalErrors off; FATAL_OPT_IN=0 opts out;
 * FATAL_OPT_OUT_LATER=1 opts out after the handler was installed;
 * FATAL_GO=<libstatusgo-shape.so> loads the Go peer first. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef char *(*str_fn)(const char *);
typedef char *(*void_fn)(void);
typedef char *(*test_fn)(int, const char *);
typedef void (*free_fn)(void *);

static void host_handler(int sig, siginfo_t *info, void *ctx) {
    (void)info;
    (void)ctx;
    char line[64];
    int n = snprintf(line, sizeof line, "host handler: signal %d\n", sig);
    if (n > 0) write(2, line, (size_t)n);
    _exit(42);
}

static void *sym(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (!f) {
        fprintf(stderr, "no %s: %s\n", name, dlerror());
        exit(3);
    }
    return f;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: fatal_host <libstatus.so> <dataDir> <dsn> <action>\n");
        return 2;
    }
    const char *action = argv[4];
    /* No core files: these crashes are on purpose, and dumping them is slow. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    const char *env = getenv("FATAL_HOST_HANDLER");
    if (env && strcmp(env, "1") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = host_handler;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGABRT, &sa, NULL);
    }
    void *go = NULL;
    const char *go_path = getenv("FATAL_GO");
    if (go_path && *go_path) {
        go = dlopen(go_path, RTLD_NOW | RTLD_LOCAL);
        if (!go) {
            fprintf(stderr, "dlopen %s: %s\n", go_path, dlerror());
            return 3;
        }
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
        return 3;
    }
    str_fn init = (str_fn)sym(lib, "InitializeApplication");
    str_fn toggle = (str_fn)sym(lib, "ToggleCentralizedMetrics");
    test_fn test_panic = (test_fn)sym(lib, "TestPanic");
    free_fn lib_free = (free_fn)sym(lib, "Free");

    const char *option = getenv("FATAL_OPTION");
    const char *opt_in = getenv("FATAL_OPT_IN");
    char request[4096];
    snprintf(request, sizeof request, "{\"dataDir\":\"%s\",\"sentryDSN\":\"%s\",\"reportFatalErrors\":%s}", argv[2],
             argv[3], option && strcmp(option, "0") == 0 ? "false" : "true");
    char *answer = init(request);
    lib_free(answer);
    answer = toggle(opt_in && strcmp(opt_in, "0") == 0 ? "{\"enabled\":false}" : "{\"enabled\":true}");
    lib_free(answer);
    /* Again, opted in or out: the answer says whether fatal errors are reported. */
    answer = init(request);
    printf("%s\n", answer);
    fflush(stdout);
    lib_free(answer);

    const char *later = getenv("FATAL_OPT_OUT_LATER");
    if (later && strcmp(later, "1") == 0) {
        answer = toggle("{\"enabled\":false}");
        lib_free(answer);
    }
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    printf("sigsegv handler: %s\n", now.sa_handler == SIG_DFL ? "default"
                                     : (env && strcmp(env, "1") == 0 && now.sa_sigaction == host_handler) ? "host"
                                                                                                       : "other");
    fflush(stdout);

    if (strncmp(action, "kind:", 5) == 0) {
        answer = test_panic(atoi(action + 5), "fatal test");
        printf("survived: %s\n", answer);
    } else if (strcmp(action, "dangling") == 0) {
        answer = toggle((const char *)(uintptr_t)0x10);
        printf("survived: %s\n", answer);
    } else if (strcmp(action, "host-segv") == 0) {
        *(volatile int *)(uintptr_t)0x10 = 1;
        printf("survived the host's own fault\n");
    } else if (strcmp(action, "go") == 0) {
        void_fn deref = (void_fn)sym(go, "GoNilDerefRecovered");
        answer = deref();
        printf("go: %s\n", answer);
        fflush(stdout);
        ((free_fn)sym(go, "Free"))(answer);
        /* And the library's own fault still reports after Go's. */
        const char *then = getenv("FATAL_THEN_KIND");
        if (then) {
            answer = test_panic(atoi(then), "fatal test after go");
            printf("survived: %s\n", answer);
        }
    }
    fflush(stdout);
    return 0;
}
