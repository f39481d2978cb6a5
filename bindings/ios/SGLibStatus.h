//
//  SGLibStatus.h
//  Objective-C binding of libstatus's C ABI for iOS (and any Foundation host).
//
//  Every method passes NSString JSON in, calls the C function, copies the answer
//  into an NSString, gives the C answer back to libstatus's Free() exactly once,
//  and turns an answer whose "error" is non-empty into an NSError in
//  SGLibStatusErrorDomain. A panic inside the library arrives as
//  SGLibStatusErrorPanic: the library caught it (and reported it to Sentry if the
//  user opted in); the app keeps running.
//
//  Swift sees the methods as throwing:
//      let info = try SGLibStatus.initializeApplication(#"{"dataDir":"\#(dir)"}"#)
//      try SGLibStatus.toggleCentralizedMetrics(#"{"enabled":true}"#)
//      do { try SGLibStatus.intendedPanic("boom") }
//      catch let e as SGLibStatusError where e.code == .panic { ... }
//
//  The raw* methods are the other layer, gomobile's shape: the answer JSON as
//  is, error answers included, for code that forwards JSON (see below).
//
//  All methods are thread-safe (the library serialises what it must).
//  Valid for Apple clang with or without ARC, and for gcc + GNUstep.
//

#import <Foundation/Foundation.h>

#ifndef NS_ASSUME_NONNULL_BEGIN
#define NS_ASSUME_NONNULL_BEGIN
#define NS_ASSUME_NONNULL_END
#endif
// gcc's Objective-C (GNUstep builds) has no nullability qualifiers.
#if defined(__clang__)
#define SG_NULLABLE nullable
#else
#define SG_NULLABLE
#endif

NS_ASSUME_NONNULL_BEGIN

/// The error domain of every NSError this class produces.
FOUNDATION_EXPORT NSErrorDomain const SGLibStatusErrorDomain;
/// userInfo key: the library's error code string ("invalid-request", "panic", ...).
FOUNDATION_EXPORT NSString *const SGLibStatusErrorCodeKey;
/// userInfo key: the complete answer JSON, for logs.
FOUNDATION_EXPORT NSString *const SGLibStatusAnswerKey;
/// Posted (on the caller's thread) after toggleCentralizedMetrics:error: leaves
/// the user opted out: a host sender (SGPanicReportSender) cancels its request.
FOUNDATION_EXPORT NSString *const SGLibStatusDidOptOutNotification;

/// Error codes. 0 is deliberately unused.
#ifdef NS_ERROR_ENUM
typedef NS_ERROR_ENUM(SGLibStatusErrorDomain, SGLibStatusErrorCode) {
#else
typedef NS_ENUM(NSInteger, SGLibStatusErrorCode) {
#endif
    /// The library answered a code this binding does not know (a newer library).
    SGLibStatusErrorUnknown = 1,
    /// "invalid-request": the request JSON was malformed or missing a field.
    SGLibStatusErrorInvalidRequest = 2,
    /// "not-initialized": call initializeApplication:error: first.
    SGLibStatusErrorNotInitialized = 3,
    /// "internal": the library failed for a reason of its own.
    SGLibStatusErrorInternal = 4,
    /// "panic": the library caught a panic (a bug in the library). The message is
    /// in localizedDescription; the process is unharmed.
    SGLibStatusErrorPanic = 5,
    /// The binding could not read the answer (none, not UTF-8, or not a JSON object).
    SGLibStatusErrorInvalidAnswer = 6,
};

@interface SGLibStatus : NSObject

/// `{"dataDir": "...", ...}` -> the answer JSON
/// `{"centralizedMetricsInfo": {...}, "panicReporting": {...}}`, or nil and *error.
+ (SG_NULLABLE NSString *)initializeApplication:(NSString *)requestJSON error:(NSError **)error;

/// Records the user's consent: `{"enabled": true}`. NO and *error on failure.
+ (BOOL)toggleCentralizedMetrics:(NSString *)requestJSON error:(NSError **)error;

/// `{"enabled": b, "userConfirmed": b}`, or nil and *error (e.g. not initialized).
+ (SG_NULLABLE NSString *)centralizedMetricsInfo:(NSError **)error;

/// Makes the library panic inside its guard: always NO, *error has code
/// SGLibStatusErrorPanic and the message. For testing crash reporting.
+ (BOOL)intendedPanic:(NSString *)message error:(NSError **)error;

/// Makes a library thread panic; YES when the library answered `{"error":""}`.
+ (BOOL)intendedBackgroundPanic:(NSString *)message error:(NSError **)error;

/// Waits up to timeoutMs for queued panic reports. Returns the answer JSON
/// `{"error":"", "pending": N}`, or nil and *error.
+ (SG_NULLABLE NSString *)flushPanicReportsWithTimeout:(NSInteger)timeoutMs error:(NSError **)error;

/// What the user can see of the panic reports (PanicReports): the answer JSON
/// `{"error":"","pending":[...],"sent":[...],"dropped":{...},...}` (each
/// pending report with the exact body that will be sent), or nil and *error.
/// requestJSON: `{}`, or `{"after":"<id>","limit":N}` for the next page.
+ (SG_NULLABLE NSString *)panicReports:(NSString *)requestJSON error:(NSError **)error;

/// Deletes pending panic reports for good (DeletePanicReports):
/// `{"ids":[...]}` or `{"all":true}`. Returns `{"error":"","deleted":N,"notPending":M}`,
/// or nil and *error.
+ (SG_NULLABLE NSString *)deletePanicReports:(NSString *)requestJSON error:(NSError **)error;

/// Maps the library's code string to SGLibStatusErrorCode (unknown strings: SGLibStatusErrorUnknown).
+ (SGLibStatusErrorCode)errorCodeForString:(SG_NULLABLE NSString *)code;

// ---- the raw layer -----------------------------------------------------------
// The shape of gomobile's generated functions (status-mobile's iOS code calls
// `StatusgoInitializeApplication(NSString *)` and passes the result on to
// JavaScript): NSString JSON in, the library's answer JSON out, error answers
// included (`{"error":"...","code":"..."}`), never nil and never an NSError.
// Each copies the C answer, then gives it to Free exactly once. Only when the
// library gives no readable answer (NULL: out of memory; not UTF-8) do they
// make one themselves: `{"error":"libstatus returned no answer","code":"internal"}`.
// A nil request is passed as NULL (the library answers invalid-request).

/// InitializeApplication(requestJSON): the answer JSON as is.
+ (NSString *)rawInitializeApplication:(SG_NULLABLE NSString *)requestJSON;
/// ToggleCentralizedMetrics(requestJSON): `{"error":""}` or the error answer.
+ (NSString *)rawToggleCentralizedMetrics:(SG_NULLABLE NSString *)requestJSON;
/// CentralizedMetricsInfo(): `{"enabled":b,"userConfirmed":b}` or the error answer.
+ (NSString *)rawCentralizedMetricsInfo;
/// IntendedPanic(message): always `{"error":"<message>","code":"panic"}`.
+ (NSString *)rawIntendedPanic:(SG_NULLABLE NSString *)message;
/// IntendedBackgroundPanic(message): `{"error":""}` or the error answer.
+ (NSString *)rawIntendedBackgroundPanic:(SG_NULLABLE NSString *)message;
/// FlushPanicReports(timeoutMs): `{"error":"","pending":N}` or the error answer.
/// Out of int range is passed as -1 (the library answers invalid-request).
+ (NSString *)rawFlushPanicReports:(NSInteger)timeoutMs;
/// PanicReports(requestJSON): the answer JSON as is.
+ (NSString *)rawPanicReports:(SG_NULLABLE NSString *)requestJSON;
/// DeletePanicReports(requestJSON): the answer JSON as is.
+ (NSString *)rawDeletePanicReports:(SG_NULLABLE NSString *)requestJSON;

@end

NS_ASSUME_NONNULL_END
