//
//  SGPanicReportSender.m
//  See SGPanicReportSender.h. ARC only.
//

#import "SGPanicReportSender.h"
#import "SGLibStatus.h"
#include <string.h>
#include "libstatus.h"

#if !__has_feature(objc_arc)
#error "SGPanicReportSender.m is ARC code (-fobjc-arc)"
#endif

/// How long each pull waits for a report to become due (also how long stop may
/// take to end the thread), and each request's time-out, in ms.
static const int SGPullWaitMs = 30000;
static const int SGRequestTimeoutMs = 30000;

// One C call: the answer as a JSON object (nil when unreadable), freed once.
static NSDictionary *SGCall(char *(*function)(const char *), NSDictionary *request) {
    NSData *json = [NSJSONSerialization dataWithJSONObject:request options:0 error:NULL];
    NSString *text = json ? [[NSString alloc] initWithData:json encoding:NSUTF8StringEncoding] : nil;
    char *answer = function(text ? text.UTF8String : "{}");
    if (answer == NULL) return nil;
    NSData *data = [NSData dataWithBytes:answer length:strlen(answer)];
    Free(answer);
    id object = [NSJSONSerialization JSONObjectWithData:data options:0 error:NULL];
    return [object isKindOfClass:[NSDictionary class]] ? object : nil;
}

@implementation SGPanicReportSender {
    NSURLSession *_session;
    NSCondition *_lock;
    BOOL _running;
    NSURLSessionTask *_inFlight;
}

- (instancetype)initWithSession:(NSURLSession *)session {
    if ((self = [super init])) {
        _session = session;
        _lock = [[NSCondition alloc] init];
        [[NSNotificationCenter defaultCenter] addObserver:self
                                                 selector:@selector(optedOut:)
                                                     name:SGLibStatusDidOptOutNotification
                                                   object:nil];
    }
    return self;
}

- (void)dealloc {
    [[NSNotificationCenter defaultCenter] removeObserver:self];
}

- (void)start {
    [_lock lock];
    BOOL already = _running;
    _running = YES;
    [_lock unlock];
    if (already) return;
    NSThread *thread = [[NSThread alloc] initWithTarget:self selector:@selector(loop) object:nil];
    thread.name = @"libstatus-report-sender";
    [thread start];
}

- (void)stop {
    [_lock lock];
    _running = NO;
    NSURLSessionTask *task = _inFlight;
    [_lock unlock];
    [task cancel];
}

- (void)optedOut:(NSNotification *)notification {
    (void)notification;
    [_lock lock];
    NSURLSessionTask *task = _inFlight;
    [_lock unlock];
    [task cancel];
}

- (BOOL)isRunning {
    [_lock lock];
    BOOL running = _running;
    [_lock unlock];
    return running;
}

- (void)loop {
    while ([self isRunning]) {
        @autoreleasepool {
            NSDictionary *report = SGCall(NextPanicReport, @{
                @"leaseMs" : @(2 * SGRequestTimeoutMs + 5000),
                @"waitMs" : @(SGPullWaitMs)
            });
            NSString *error = report[@"error"];
            if (report == nil || ![error isKindOfClass:[NSString class]] || error.length > 0) {
                // Not initialized yet, or the library's own transport.
                [NSThread sleepForTimeInterval:SGPullWaitMs / 1000.0];
                continue;
            }
            NSString *reportId = report[@"id"];
            if (![reportId isKindOfClass:[NSString class]]) continue; // nothing due: the pull waited
            SGCall(PanicReportOutcome, [self send:report reportId:reportId]);
        }
    }
}

// One POST; answers the PanicReportOutcome request.
- (NSDictionary *)send:(NSDictionary *)report reportId:(NSString *)reportId {
    NSURL *url = [NSURL URLWithString:report[@"url"]];
    if (url == nil) return @{@"id" : reportId, @"networkError" : @"bad URL"};
    NSMutableURLRequest *request = [NSMutableURLRequest requestWithURL:url];
    request.HTTPMethod = @"POST";
    request.timeoutInterval = SGRequestTimeoutMs / 1000.0;
    request.HTTPBody = [report[@"body"] dataUsingEncoding:NSUTF8StringEncoding];
    NSDictionary *headers = report[@"headers"];
    for (NSString *name in headers) {
        [request setValue:headers[name] forHTTPHeaderField:name];
    }
    __block NSDictionary *outcome = nil;
    NSCondition *done = [[NSCondition alloc] init];
    NSURLSessionDataTask *task = [_session dataTaskWithRequest:request
                                             completionHandler:^(NSData *data, NSURLResponse *response, NSError *failure) {
        (void)data;
        NSDictionary *result;
        if (failure != nil || ![response isKindOfClass:[NSHTTPURLResponse class]]) {
            result = @{@"id" : reportId, @"networkError" : failure ? failure.localizedDescription : @"no HTTP answer"};
        } else {
            NSHTTPURLResponse *http = (NSHTTPURLResponse *)response;
            NSMutableDictionary *answered = [@{@"id" : reportId, @"status" : @(http.statusCode)} mutableCopy];
            NSString *retryAfter = [http valueForHTTPHeaderField:@"Retry-After"];
            NSString *rateLimits = [http valueForHTTPHeaderField:@"X-Sentry-Rate-Limits"];
            if (retryAfter) answered[@"retryAfter"] = retryAfter;
            if (rateLimits) answered[@"rateLimits"] = rateLimits;
            result = answered;
        }
        [done lock];
        outcome = result;
        [done signal];
        [done unlock];
    }];
    [_lock lock];
    BOOL running = _running;
    if (running) _inFlight = task;
    [_lock unlock];
    if (!running) return @{@"id" : reportId, @"networkError" : @"stopped"};
    [task resume];
    [done lock];
    while (outcome == nil) [done wait];
    NSDictionary *result = outcome;
    [done unlock];
    [_lock lock];
    _inFlight = nil;
    [_lock unlock];
    return result;
}

@end
