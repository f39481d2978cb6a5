// The native module `LibStatus` on iOS, for both architectures from one file
// (create-react-native-library's backward-compatible template): with
// RCT_NEW_ARCH_ENABLED (the podspec sets it for newArchEnabled builds) it is the
// TurboModule implementing the codegen'd NativeLibStatusSpec; without it, a
// bridge module whose RCT_EXPORT_METHODs appear in NativeModules.LibStatus.
// React Native 0.71 and up. It calls the C ABI (include/libstatus.h)
// directly. Each answer is copied into an NSString, then released with the
// library's Free (exactly once, never with free()). Methods resolve with the
// answer JSON as is, error answers included: the TypeScript layer maps them to
// LibStatusError / LibStatusPanicError, as on Android. They reject only when
// the library returns NULL (out of memory) or an answer that is not UTF-8.
// Calls run on a concurrent background queue: FlushPanicReports waits and
// InitializeApplication does I/O, so never on the JS or main thread.

#import <Foundation/Foundation.h>
#import <React/RCTBridgeModule.h>
#ifdef RCT_NEW_ARCH_ENABLED
#import <RNLibStatusSpec/RNLibStatusSpec.h>
#endif

#include <limits.h>
#include <math.h>
#include "libstatus.h"

#ifdef RCT_NEW_ARCH_ENABLED
@interface RNLibStatus : NSObject <NativeLibStatusSpec>
#else
@interface RNLibStatus : NSObject <RCTBridgeModule>
#endif
@end

/// Copies then frees an answer. nil only for NULL (out of memory) or non-UTF-8.
static NSString *RNLibStatusTakeAnswer(char *answer) {
  if (answer == NULL) {
    return nil;
  }
  NSString *json = [NSString stringWithUTF8String:answer];
  Free(answer);
  return json;
}

@implementation RNLibStatus {
  dispatch_queue_t _queue;
}

RCT_EXPORT_MODULE(LibStatus)

+ (BOOL)requiresMainQueueSetup {
  return NO;
}

- (instancetype)init {
  if ((self = [super init])) {
    _queue = dispatch_queue_create("im.status.libstatus.rn", DISPATCH_QUEUE_CONCURRENT);
  }
  return self;
}

#ifdef RCT_NEW_ARCH_ENABLED
- (std::shared_ptr<facebook::react::TurboModule>)getTurboModule:
    (const facebook::react::ObjCTurboModule::InitParams &)params {
  return std::make_shared<facebook::react::NativeLibStatusSpecJSI>(params);
}
#endif

/// Runs `call` on the queue and settles the promise with its answer.
- (void)run:(char *(^)(void))call resolve:(RCTPromiseResolveBlock)resolve reject:(RCTPromiseRejectBlock)reject {
  dispatch_async(_queue, ^{
    NSString *json = RNLibStatusTakeAnswer(call());
    if (json != nil) {
      resolve(json);
    } else {
      reject(@"internal", @"libstatus returned no answer (out of memory)", nil);
    }
  });
}

// NSString -UTF8String: NULL for nil (the library answers invalid-request); the
// C string lives as long as the autoreleased copy, i.e. through the call.

RCT_EXPORT_METHOD(initializeApplication:(NSString *)requestJson
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return InitializeApplication(request.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(toggleCentralizedMetrics:(NSString *)requestJson
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return ToggleCentralizedMetrics(request.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(centralizedMetricsInfo:(RCTPromiseResolveBlock)resolve reject:(RCTPromiseRejectBlock)reject) {
  [self run:^char * { return CentralizedMetricsInfo(); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(intendedPanic:(NSString *)message resolve:(RCTPromiseResolveBlock)resolve reject:(RCTPromiseRejectBlock)reject) {
  NSString *text = [message copy];
  [self run:^char * { return IntendedPanic(text.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(intendedBackgroundPanic:(NSString *)message
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *text = [message copy];
  [self run:^char * { return IntendedBackgroundPanic(text.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(flushPanicReports:(double)timeoutMs resolve:(RCTPromiseResolveBlock)resolve reject:(RCTPromiseRejectBlock)reject) {
  // JS numbers are doubles; anything that is not an exact int becomes -1, which
  // the library refuses (invalid-request). The TypeScript layer checks first.
  int timeout = (timeoutMs == rint(timeoutMs) && fabs(timeoutMs) <= INT_MAX) ? (int)timeoutMs : -1;
  [self run:^char * { return FlushPanicReports(timeout); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(panicReports:(NSString *)requestJson resolve:(RCTPromiseResolveBlock)resolve reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return PanicReports(request.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(deletePanicReports:(NSString *)requestJson
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return DeletePanicReports(request.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(nextPanicReport:(NSString *)requestJson
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return NextPanicReport(request.UTF8String); } resolve:resolve reject:reject];
}

RCT_EXPORT_METHOD(panicReportOutcome:(NSString *)requestJson
                  resolve:(RCTPromiseResolveBlock)resolve
                  reject:(RCTPromiseRejectBlock)reject) {
  NSString *request = [requestJson copy];
  [self run:^char * { return PanicReportOutcome(request.UTF8String); } resolve:resolve reject:reject];
}

@end
