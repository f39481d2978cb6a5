//
//  SGLibStatus.m
//  See SGLibStatus.h. Compiles with Apple clang (ARC or MRC) and gcc + GNUstep (MRC);
//  sticks to syntax gcc knows (no object literals, subscripts or @autoreleasepool).
//

#import "SGLibStatus.h"
#include <limits.h>
#include <string.h>
#include "libstatus.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if __has_feature(objc_arc)
#define SG_AUTORELEASE(x) (x)
#else
#define SG_AUTORELEASE(x) [(x) autorelease]
#endif

NSErrorDomain const SGLibStatusErrorDomain = @"SGLibStatusErrorDomain";
NSString *const SGLibStatusErrorCodeKey = @"SGLibStatusErrorCode";
NSString *const SGLibStatusAnswerKey = @"SGLibStatusAnswer";
NSString *const SGLibStatusDidOptOutNotification = @"SGLibStatusDidOptOut";

@implementation SGLibStatus

+ (SGLibStatusErrorCode)errorCodeForString:(NSString *)code {
    if ([code isEqualToString:@"invalid-request"]) return SGLibStatusErrorInvalidRequest;
    if ([code isEqualToString:@"not-initialized"]) return SGLibStatusErrorNotInitialized;
    if ([code isEqualToString:@"internal"]) return SGLibStatusErrorInternal;
    if ([code isEqualToString:@"panic"]) return SGLibStatusErrorPanic;
    return SGLibStatusErrorUnknown;
}

static NSError *SGMakeError(SGLibStatusErrorCode code, NSString *codeString, NSString *message, NSString *answer) {
    NSMutableDictionary *info = [NSMutableDictionary dictionaryWithObject:message forKey:NSLocalizedDescriptionKey];
    if (codeString != nil) [info setObject:codeString forKey:SGLibStatusErrorCodeKey];
    if (answer != nil) [info setObject:answer forKey:SGLibStatusAnswerKey];
    if (code == SGLibStatusErrorPanic) {
        [info setObject:@"libstatus caught a panic; the call failed but the app is unharmed"
                 forKey:NSLocalizedFailureReasonErrorKey];
    }
    return [NSError errorWithDomain:SGLibStatusErrorDomain code:code userInfo:info];
}

// The one place answers are consumed: copies the C answer into an NSString, hands
// it back to Free exactly once (before anything can fail), then reads "error".
// Returns the answer JSON on success; nil and *error on failure.
static NSString *SGTakeAnswer(char *answer, NSError **error) {
    if (answer == NULL) {
        if (error) *error = SGMakeError(SGLibStatusErrorInvalidAnswer, nil, @"libstatus returned no answer", nil);
        return nil;
    }
    NSString *text = SG_AUTORELEASE([[NSString alloc] initWithBytes:answer
                                                              length:strlen(answer)
                                                            encoding:NSUTF8StringEncoding]);
    Free(answer);
    answer = NULL;
    if (text == nil) {
        if (error) *error = SGMakeError(SGLibStatusErrorInvalidAnswer, nil, @"libstatus answer is not UTF-8", nil);
        return nil;
    }

    NSError *parseError = nil;
    id object = [NSJSONSerialization JSONObjectWithData:[text dataUsingEncoding:NSUTF8StringEncoding]
                                                options:0
                                                  error:&parseError];
    if (![object isKindOfClass:[NSDictionary class]]) {
        if (error) {
            NSString *why = parseError ? [parseError localizedDescription] : @"not a JSON object";
            *error = SGMakeError(SGLibStatusErrorInvalidAnswer, nil,
                                 [NSString stringWithFormat:@"unreadable libstatus answer: %@", why], text);
        }
        return nil;
    }

    id message = [(NSDictionary *)object objectForKey:@"error"];
    if ([message isKindOfClass:[NSString class]] && [(NSString *)message length] > 0) {
        id codeString = [(NSDictionary *)object objectForKey:@"code"];
        if (![codeString isKindOfClass:[NSString class]]) codeString = nil;
        if (error) {
            *error = SGMakeError([SGLibStatus errorCodeForString:codeString], codeString, message, text);
        }
        return nil;
    }
    return text;
}

// A nil NSString is passed as NULL: the library answers invalid-request.
static const char *SGCString(NSString *s) {
    return s ? [s UTF8String] : NULL;
}

+ (NSString *)initializeApplication:(NSString *)requestJSON error:(NSError **)error {
    return SGTakeAnswer(InitializeApplication(SGCString(requestJSON)), error);
}

+ (BOOL)toggleCentralizedMetrics:(NSString *)requestJSON error:(NSError **)error {
    if (SGTakeAnswer(ToggleCentralizedMetrics(SGCString(requestJSON)), error) == nil) return NO;
    // Opted out: the library has deleted the reports; a host sender cancels
    // the request it has in flight (SGPanicReportSender observes this).
    NSString *info = SGTakeAnswer(CentralizedMetricsInfo(), NULL);
    NSData *data = [info dataUsingEncoding:NSUTF8StringEncoding];
    id object = data ? [NSJSONSerialization JSONObjectWithData:data options:0 error:NULL] : nil;
    id enabled = [object isKindOfClass:[NSDictionary class]] ? [object objectForKey:@"enabled"] : nil;
    if (![enabled boolValue]) {
        [[NSNotificationCenter defaultCenter] postNotificationName:SGLibStatusDidOptOutNotification object:nil];
    }
    return YES;
}

+ (NSString *)centralizedMetricsInfo:(NSError **)error {
    return SGTakeAnswer(CentralizedMetricsInfo(), error);
}

+ (BOOL)intendedPanic:(NSString *)message error:(NSError **)error {
    return SGTakeAnswer(IntendedPanic(SGCString(message)), error) != nil;
}

+ (BOOL)intendedBackgroundPanic:(NSString *)message error:(NSError **)error {
    return SGTakeAnswer(IntendedBackgroundPanic(SGCString(message)), error) != nil;
}

+ (NSString *)flushPanicReportsWithTimeout:(NSInteger)timeoutMs error:(NSError **)error {
    int ms = timeoutMs < 0 ? 0 : (timeoutMs > INT_MAX ? INT_MAX : (int)timeoutMs);
    return SGTakeAnswer(FlushPanicReports(ms), error);
}

+ (NSString *)panicReports:(NSString *)requestJSON error:(NSError **)error {
    return SGTakeAnswer(PanicReports(SGCString(requestJSON)), error);
}

+ (NSString *)deletePanicReports:(NSString *)requestJSON error:(NSError **)error {
    return SGTakeAnswer(DeletePanicReports(SGCString(requestJSON)), error);
}

// ---- the raw layer ------------------------------------------------------------

// Copies the C answer into an NSString and Frees it; never nil.
static NSString *SGRawAnswer(char *answer) {
    NSString *text = nil;
    if (answer != NULL) {
        text = SG_AUTORELEASE([[NSString alloc] initWithBytes:answer
                                                       length:strlen(answer)
                                                     encoding:NSUTF8StringEncoding]);
        Free(answer);
    }
    return text != nil ? text : @"{\"error\":\"libstatus returned no answer\",\"code\":\"internal\"}";
}

+ (NSString *)rawInitializeApplication:(NSString *)requestJSON {
    return SGRawAnswer(InitializeApplication(SGCString(requestJSON)));
}

+ (NSString *)rawToggleCentralizedMetrics:(NSString *)requestJSON {
    return SGRawAnswer(ToggleCentralizedMetrics(SGCString(requestJSON)));
}

+ (NSString *)rawCentralizedMetricsInfo {
    return SGRawAnswer(CentralizedMetricsInfo());
}

+ (NSString *)rawIntendedPanic:(NSString *)message {
    return SGRawAnswer(IntendedPanic(SGCString(message)));
}

+ (NSString *)rawIntendedBackgroundPanic:(NSString *)message {
    return SGRawAnswer(IntendedBackgroundPanic(SGCString(message)));
}

+ (NSString *)rawFlushPanicReports:(NSInteger)timeoutMs {
    int ms = (timeoutMs < INT_MIN || timeoutMs > INT_MAX) ? -1 : (int)timeoutMs;
    return SGRawAnswer(FlushPanicReports(ms));
}

+ (NSString *)rawPanicReports:(NSString *)requestJSON {
    return SGRawAnswer(PanicReports(SGCString(requestJSON)));
}

+ (NSString *)rawDeletePanicReports:(NSString *)requestJSON {
    return SGRawAnswer(DeletePanicReports(SGCString(requestJSON)));
}

@end
