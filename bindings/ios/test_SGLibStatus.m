//
//  test_SGLibStatus.m: host-style test of SGLibStatus on Linux (gcc + GNUstep).
//
//  Builds with gcc -x objective-c (manual retain/release; gcc has no ARC) against
//  libstatus.so. It also checks that SGLibStatus hands every answer back to Free
//  exactly once: this file defines the library's symbols itself (an "answer
//  ledger"), forwards each call to the real function found with
//  dlsym(RTLD_NEXT, ...), records every answer pointer, and checks each Free
//  against the record. SGLibStatus.o, linked into this executable, binds to these
//  definitions; libstatus.so is untouched.
//
//  Output: "ok - ..." / "FAIL - ..." per check, then "N passed, M failed".
//

#define _GNU_SOURCE
#import <Foundation/Foundation.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#import "SGLibStatus.h"
#include "libstatus.h"

// ---- the answer ledger --------------------------------------------------------

enum { LEDGER_SLOTS = 4096 };
static void *ledger[LEDGER_SLOTS];
static long answers_given, answers_freed, bad_frees, null_frees;
static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;

static void *real(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "dlsym(RTLD_NEXT, %s) failed: %s\n", name, dlerror());
        exit(2);
    }
    return f;
}

static char *record(char *answer) {
    pthread_mutex_lock(&ledger_lock);
    if (answer != NULL) {
        answers_given++;
        int i;
        for (i = 0; i < LEDGER_SLOTS && ledger[i] != NULL; i++) {}
        if (i < LEDGER_SLOTS) ledger[i] = answer;
        else bad_frees++; // ledger full: count as a failure rather than lose track
    }
    pthread_mutex_unlock(&ledger_lock);
    return answer;
}

typedef char *(*fn_str)(const char *);
typedef char *(*fn_void)(void);
typedef char *(*fn_int)(int);
typedef void (*fn_free)(void *);

char *InitializeApplication(const char *r) { return record(((fn_str)real("InitializeApplication"))(r)); }
char *ToggleCentralizedMetrics(const char *r) { return record(((fn_str)real("ToggleCentralizedMetrics"))(r)); }
char *CentralizedMetricsInfo(void) { return record(((fn_void)real("CentralizedMetricsInfo"))()); }
char *IntendedPanic(const char *m) { return record(((fn_str)real("IntendedPanic"))(m)); }
char *IntendedBackgroundPanic(const char *m) { return record(((fn_str)real("IntendedBackgroundPanic"))(m)); }
char *FlushPanicReports(int t) { return record(((fn_int)real("FlushPanicReports"))(t)); }
char *PanicReports(const char *r) { return record(((fn_str)real("PanicReports"))(r)); }
char *DeletePanicReports(const char *r) { return record(((fn_str)real("DeletePanicReports"))(r)); }

void Free(void *p) {
    pthread_mutex_lock(&ledger_lock);
    if (p == NULL) {
        null_frees++;
    } else {
        int i;
        for (i = 0; i < LEDGER_SLOTS && ledger[i] != p; i++) {}
        if (i < LEDGER_SLOTS) { ledger[i] = NULL; answers_freed++; }
        else bad_frees++; // never given out, or already freed
    }
    pthread_mutex_unlock(&ledger_lock);
    if (p != NULL) ((fn_free)real("Free"))(p);
}

// ---- checks ---------------------------------------------------------------------------

static int passed, failed;

static void check(BOOL ok, NSString *what, id detail) {
    @synchronized([SGLibStatus class]) {
        if (ok) {
            passed++;
            printf("ok - %s\n", [what UTF8String]);
        } else {
            failed++;
            printf("FAIL - %s%s%s\n", [what UTF8String], detail ? ": " : "",
                   detail ? [[detail description] UTF8String] : "");
        }
        fflush(stdout);
    }
}

static NSString *emojiMessage(void) {
    return [NSString stringWithUTF8String:"\xF0\x9F\x92\xA5 emoji \xF0\x9F\x98\x80"]; // 💥 emoji 😀
}

static id jsonObject(NSString *s) {
    if (s == nil) return nil;
    return [NSJSONSerialization JSONObjectWithData:[s dataUsingEncoding:NSUTF8StringEncoding] options:0 error:NULL];
}

// ---- several host threads -----------------------------------------------------------------

enum { THREADS = 8 };
static int rounds = 25;

@interface SGWorker : NSObject {
@public
    int ident;
    int bad;
    NSString *firstBad;
    NSCondition *done;
    int *remaining;
}
- (void)run:(id)unused;
@end

@implementation SGWorker
- (void)noteBad:(NSString *)what {
    if (bad++ == 0) firstBad = [what retain];
}
- (void)run:(id)unused {
    (void)unused;
    NSAutoreleasePool *pool = [NSAutoreleasePool new];
    for (int i = 0; i < rounds; i++) {
        NSAutoreleasePool *inner = [NSAutoreleasePool new];
        NSError *error = nil;
        NSString *req = (ident + i) % 2 ? @"{\"enabled\":true}" : @"{\"enabled\":false}";
        if (![SGLibStatus toggleCentralizedMetrics:req error:&error]) [self noteBad:[error description]];
        NSString *info = [SGLibStatus centralizedMetricsInfo:&error];
        if (info == nil || [info rangeOfString:@"\"userConfirmed\":true"].location == NSNotFound)
            [self noteBad:info ? info : [error description]];
        NSString *message = [NSString stringWithFormat:@"thread %d round %d %@", ident, i, emojiMessage()];
        error = nil;
        BOOL ok = [SGLibStatus intendedPanic:message error:&error];
        if (ok || [error code] != SGLibStatusErrorPanic || ![[error localizedDescription] isEqualToString:message])
            [self noteBad:[NSString stringWithFormat:@"panic: %@", error]];
        [inner drain];
    }
    [done lock];
    (*remaining)--;
    [done signal];
    [done unlock];
    [pool drain];
}
- (void)dealloc {
    [firstBad release];
    [super dealloc];
}
@end

static void testThreads(void) {
    NSCondition *done = [NSCondition new];
    int remaining = THREADS;
    SGWorker *workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = [SGWorker new];
        workers[i]->ident = i;
        workers[i]->done = done;
        workers[i]->remaining = &remaining;
        [NSThread detachNewThreadSelector:@selector(run:) toTarget:workers[i] withObject:nil];
    }
    [done lock];
    while (remaining > 0) [done wait];
    [done unlock];
    int bad = 0;
    NSString *first = nil;
    for (int i = 0; i < THREADS; i++) {
        bad += workers[i]->bad;
        if (first == nil && workers[i]->firstBad) first = [[workers[i]->firstBad retain] autorelease];
        [workers[i] release];
    }
    [done release];
    check(bad == 0, [NSString stringWithFormat:@"%d NSThreads x %d rounds of toggle/info/panic at once (%d bad)",
                                               THREADS, rounds, bad], first);
}

int main(void) {
    NSAutoreleasePool *pool = [NSAutoreleasePool new];
    const char *r = getenv("LIBSTATUS_TEST_ROUNDS");
    if (r && atoi(r) > 0) rounds = atoi(r);

    NSError *error = nil;
    NSString *answer = [SGLibStatus centralizedMetricsInfo:&error];
    check(answer == nil && [[error domain] isEqualToString:SGLibStatusErrorDomain] &&
              [error code] == SGLibStatusErrorNotInitialized &&
              [[[error userInfo] objectForKey:SGLibStatusErrorCodeKey] isEqualToString:@"not-initialized"],
          @"centralizedMetricsInfo before initialize: NSError SGLibStatusErrorNotInitialized", error);

    answer = [SGLibStatus rawCentralizedMetricsInfo];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"not-initialized"] && [answer hasPrefix:@"{\"error\":\""],
          @"rawCentralizedMetricsInfo before initialize: the not-initialized answer JSON", answer);

    error = nil;
    answer = [SGLibStatus initializeApplication:@"{not json" error:&error];
    check(answer == nil && [error code] == SGLibStatusErrorInvalidRequest && [[error localizedDescription] length] > 0,
          @"initializeApplication(malformed JSON): NSError SGLibStatusErrorInvalidRequest", error);

    const char *tmp = getenv("TMPDIR");
    char tmpl[1024];
    snprintf(tmpl, sizeof tmpl, "%s/libstatus-objc-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(tmpl) == NULL) { perror("mkdtemp"); return 2; }
    NSString *dataDir = [NSString stringWithUTF8String:tmpl];
    NSDictionary *req = [NSDictionary dictionaryWithObjectsAndKeys:dataDir, @"dataDir",
                                                                   [NSNumber numberWithBool:NO], @"logEnabled", nil];
    NSString *reqJSON = [[[NSString alloc] initWithData:[NSJSONSerialization dataWithJSONObject:req options:0 error:NULL]
                                               encoding:NSUTF8StringEncoding] autorelease];
    error = nil;
    answer = [SGLibStatus initializeApplication:reqJSON error:&error];
    NSDictionary *init = jsonObject(answer);
    check(answer != nil && error == nil && [init objectForKey:@"error"] == nil &&
              [[init objectForKey:@"centralizedMetricsInfo"] isKindOfClass:[NSDictionary class]] &&
              [[init objectForKey:@"panicReporting"] objectForKey:@"active"] != nil,
          @"initializeApplication(temp dataDir) answers centralizedMetricsInfo and panicReporting", answer ? (id)answer : (id)error);

    error = nil;
    BOOL ok = [SGLibStatus toggleCentralizedMetrics:@"{\"enabled\":true}" error:&error];
    NSDictionary *info = jsonObject([SGLibStatus centralizedMetricsInfo:NULL]);
    check(ok && error == nil && [[info objectForKey:@"enabled"] boolValue] && [[info objectForKey:@"userConfirmed"] boolValue],
          @"toggleCentralizedMetrics(enabled:true) then centralizedMetricsInfo: enabled, userConfirmed", info ? (id)info : (id)error);

    ok = [SGLibStatus toggleCentralizedMetrics:@"{\"enabled\":false}" error:&error];
    info = jsonObject([SGLibStatus centralizedMetricsInfo:NULL]);
    check(ok && ![[info objectForKey:@"enabled"] boolValue] && [[info objectForKey:@"userConfirmed"] boolValue],
          @"toggleCentralizedMetrics(enabled:false): disabled, still userConfirmed", info);

    error = nil;
    ok = [SGLibStatus toggleCentralizedMetrics:@"[" error:&error];
    check(!ok && [error code] == SGLibStatusErrorInvalidRequest,
          @"toggleCentralizedMetrics(malformed): NSError SGLibStatusErrorInvalidRequest", error);

    error = nil;
    ok = [SGLibStatus intendedPanic:@"boom from Objective-C" error:&error];
    check(!ok && [[error domain] isEqualToString:SGLibStatusErrorDomain] && [error code] == SGLibStatusErrorPanic &&
              [[error localizedDescription] isEqualToString:@"boom from Objective-C"] &&
              [[[error userInfo] objectForKey:SGLibStatusErrorCodeKey] isEqualToString:@"panic"],
          @"intendedPanic: NSError SGLibStatusErrorPanic with the message in localizedDescription", error);

    error = nil;
    ok = [SGLibStatus intendedPanic:emojiMessage() error:&error];
    check(!ok && [error code] == SGLibStatusErrorPanic && [[error localizedDescription] isEqualToString:emojiMessage()] &&
              [[error localizedDescription] length] == 11, // 💥 and 😀 are 2 UTF-16 units each
          @"non-BMP characters round-trip through intendedPanic", error);

    error = nil;
    NSString *withEmoji = [NSString stringWithFormat:@"{\"enabled\":false,\"note\":\"%@\"}", emojiMessage()];
    ok = [SGLibStatus toggleCentralizedMetrics:withEmoji error:&error];
    check(ok, @"request JSON with non-BMP characters in an unknown key is accepted", error);

    // ---- the raw layer: the answer JSON as is, error answers included ----
    answer = [SGLibStatus rawInitializeApplication:@"{not json"];
    NSDictionary *raw = jsonObject(answer);
    check([answer hasPrefix:@"{\"error\":\""] && [[raw objectForKey:@"code"] isEqualToString:@"invalid-request"] &&
              [[raw objectForKey:@"error"] length] > 0,
          @"rawInitializeApplication(malformed): the error answer JSON, not nil", answer);
    answer = [SGLibStatus rawInitializeApplication:nil];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"invalid-request"],
          @"rawInitializeApplication(nil): invalid-request answer", answer);
    answer = [SGLibStatus rawInitializeApplication:reqJSON];
    raw = jsonObject(answer);
    check([raw objectForKey:@"error"] == nil && [[raw objectForKey:@"centralizedMetricsInfo"] isKindOfClass:[NSDictionary class]],
          @"rawInitializeApplication(temp dataDir): the payload answer", answer);
    answer = [SGLibStatus rawToggleCentralizedMetrics:@"{\"Enabled\":true}"];
    NSString *rawInfo = [SGLibStatus rawCentralizedMetricsInfo];
    check([answer isEqualToString:@"{\"error\":\"\"}"] &&
              [[jsonObject(rawInfo) objectForKey:@"enabled"] boolValue],
          @"rawToggleCentralizedMetrics({\"Enabled\":true}) (status-go's key matching): {\"error\":\"\"}, enabled",
          [NSString stringWithFormat:@"%@ %@", answer, rawInfo]);
    answer = [SGLibStatus rawToggleCentralizedMetrics:@"{}"];
    rawInfo = [SGLibStatus rawCentralizedMetricsInfo];
    check([answer isEqualToString:@"{\"error\":\"\"}"] && ![[jsonObject(rawInfo) objectForKey:@"enabled"] boolValue] &&
              [[jsonObject(rawInfo) objectForKey:@"userConfirmed"] boolValue],
          @"rawToggleCentralizedMetrics({}) is an opt-out, as in status-go", rawInfo);
    answer = [SGLibStatus rawToggleCentralizedMetrics:@"{\"enabled\":\"yes\"}"];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"invalid-request"],
          @"rawToggleCentralizedMetrics(wrong type): invalid-request answer", answer);
    answer = [SGLibStatus rawIntendedPanic:emojiMessage()];
    raw = jsonObject(answer);
    check([[raw objectForKey:@"error"] isEqualToString:emojiMessage()] && [[raw objectForKey:@"code"] isEqualToString:@"panic"] &&
              [answer hasPrefix:@"{\"error\":"],
          @"rawIntendedPanic: {\"error\":<message>,\"code\":\"panic\"}, non-BMP intact", answer);
    answer = [SGLibStatus rawIntendedBackgroundPanic:@"raw background boom"];
    check([answer isEqualToString:@"{\"error\":\"\"}"], @"rawIntendedBackgroundPanic: {\"error\":\"\"}", answer);
    answer = [SGLibStatus rawFlushPanicReports:-5];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"invalid-request"],
          @"rawFlushPanicReports(-5): invalid-request answer", answer);
    answer = [SGLibStatus rawFlushPanicReports:(NSInteger)1 << 40];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"invalid-request"],
          @"rawFlushPanicReports(2^40): invalid-request answer (not truncated to an int)", answer);
    answer = [SGLibStatus rawFlushPanicReports:100];
    check([answer hasPrefix:@"{\"error\":\"\",\"pending\":"], @"rawFlushPanicReports(100): {\"error\":\"\",\"pending\":N}", answer);

    testThreads();

    error = nil;
    ok = [SGLibStatus intendedBackgroundPanic:@"background boom from Objective-C" error:&error];
    answer = [SGLibStatus flushPanicReportsWithTimeout:2000 error:&error];
    check(ok && [[jsonObject(answer) objectForKey:@"pending"] isKindOfClass:[NSNumber class]] &&
              [SGLibStatus centralizedMetricsInfo:NULL] != nil,
          @"intendedBackgroundPanic and flushPanicReports succeed; the app survives", answer ? (id)answer : (id)error);

    error = nil;
    answer = [SGLibStatus panicReports:@"{\"limit\":10}" error:&error];
    raw = jsonObject(answer);
    check([[raw objectForKey:@"pending"] isKindOfClass:[NSArray class]] &&
              [[raw objectForKey:@"sent"] isKindOfClass:[NSArray class]] &&
              [[raw objectForKey:@"dropped"] isKindOfClass:[NSDictionary class]],
          @"panicReports: pending, sent and dropped", answer ? (id)answer : (id)error);
    answer = [SGLibStatus deletePanicReports:@"{\"ids\":[\"no-such-report\"]}" error:&error];
    check([answer isEqualToString:@"{\"error\":\"\",\"deleted\":0,\"notPending\":1}"],
          @"deletePanicReports(ids:[unknown]): nothing deleted, and said so", answer ? (id)answer : (id)error);
    answer = [SGLibStatus deletePanicReports:@"{\"all\":true}" error:&error];
    check([[jsonObject(answer) objectForKey:@"deleted"] isKindOfClass:[NSNumber class]] &&
              [[jsonObject([SGLibStatus rawPanicReports:@"{}"]) objectForKey:@"pending"] count] == 0,
          @"deletePanicReports(all): nothing left pending", answer ? (id)answer : (id)error);
    error = nil;
    answer = [SGLibStatus deletePanicReports:@"{}" error:&error];
    check(answer == nil && error != nil && error.code == SGLibStatusErrorInvalidRequest,
          @"deletePanicReports({}): nil and an invalid-request NSError", error);
    answer = [SGLibStatus rawDeletePanicReports:nil];
    check([[jsonObject(answer) objectForKey:@"code"] isEqualToString:@"invalid-request"],
          @"rawDeletePanicReports(nil): invalid-request answer", answer);

    check([SGLibStatus errorCodeForString:@"something-new"] == SGLibStatusErrorUnknown &&
              [SGLibStatus errorCodeForString:nil] == SGLibStatusErrorUnknown,
          @"unknown code strings map to SGLibStatusErrorUnknown", nil);

    long outstanding = 0;
    pthread_mutex_lock(&ledger_lock);
    for (int i = 0; i < LEDGER_SLOTS; i++) if (ledger[i]) outstanding++;
    pthread_mutex_unlock(&ledger_lock);
    check(answers_given > 0 && answers_given == answers_freed && outstanding == 0 && bad_frees == 0,
          [NSString stringWithFormat:@"every answer given back to Free exactly once (%ld answers, %ld freed, "
                                     @"%ld outstanding, %ld unknown/double frees)",
                                     answers_given, answers_freed, outstanding, bad_frees], nil);

    printf("dataDir: %s\n", tmpl);
    printf("%d passed, %d failed\n", passed, failed);
    [pool drain];
    return failed == 0 ? 0 : 1;
}
