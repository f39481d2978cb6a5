//
//  SGPanicReportSender.h
//  The host's transport for panic reports (InitializeApplication with
//  "transport":"host"): a small loop that pulls the next report from libstatus
//  (NextPanicReport), POSTs it with NSURLSession (the app's own session:
//  App Transport Security, its proxy/VPN settings and certificate pinning
//  apply), and tells the library what the server answered (PanicReportOutcome).
//  The library keeps the outbox, consent, storm control, the send budget, the
//  backoff and the server's waits: this loop decides nothing.
//
//      SGPanicReportSender *sender = [[SGPanicReportSender alloc] initWithSession:NSURLSession.sharedSession];
//      [sender start];   // applicationDidBecomeActive / sceneDidBecomeActive
//      [sender stop];    // applicationDidEnterBackground
//
//  Backgrounded mid-send: stop cancels the task; a task the system suspends or
//  kills keeps its report in the outbox, whose lease expires, and the report is
//  sent again after the next start. An opt-out through SGLibStatus
//  (SGLibStatusDidOptOutNotification) cancels the task in flight.
//
//  ARC only (Apple clang). Not built with GNUstep: Debian's gnustep-base is
//  built without NSURLSession (GS_HAVE_NSURLSESSION 0).
//

#import <Foundation/Foundation.h>

NS_ASSUME_NONNULL_BEGIN

@interface SGPanicReportSender : NSObject

- (instancetype)initWithSession:(NSURLSession *)session;
/// Starts the loop on a thread of its own; a second call does nothing.
- (void)start;
/// Stops it: the task in flight is cancelled (its report stays in the outbox).
- (void)stop;

@end

NS_ASSUME_NONNULL_END
