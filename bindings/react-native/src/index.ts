/**
 * libstatus for React Native: typed promises over the TurboModule `LibStatus`.
 *
 * ```ts
 * import { initializeApplication, LibStatusPanicError } from '@status-im/libstatus-react-native';
 * const { panicReporting } = await initializeApplication({ dataDir });
 * ```
 *
 * Error answers reject with {@link LibStatusError} (`code`: `invalid-request`,
 * `not-initialized`, `internal`) or {@link LibStatusPanicError} (`code`: `panic`).
 */
import NativeLibStatus from './NativeLibStatus';
import { createLibStatus } from './LibStatus';
import type {
  CentralizedMetricsInfo,
  FlushPanicReportsResponse,
  InitializeApplicationRequest,
  InitializeApplicationResponse,
  LibStatusApi,
} from './LibStatus';

export * from './LibStatus';
export type { Spec as NativeLibStatusSpec } from './NativeLibStatus';

/** The API bound to the TurboModule. */
export const LibStatus: LibStatusApi = createLibStatus(NativeLibStatus);

/** Sets the library up for a data directory; call it first. */
export function initializeApplication(request: InitializeApplicationRequest): Promise<InitializeApplicationResponse> {
  return LibStatus.initializeApplication(request);
}

/** Stores the user's metrics opt-in; opting out deletes unsent reports. */
export function toggleCentralizedMetrics(enabled: boolean): Promise<void> {
  return LibStatus.toggleCentralizedMetrics(enabled);
}

/** The stored metrics opt-in. */
export function centralizedMetricsInfo(): Promise<CentralizedMetricsInfo> {
  return LibStatus.centralizedMetricsInfo();
}

/** Panics inside the library on purpose: rejects with a LibStatusPanicError. */
export function intendedPanic(message: string): Promise<never> {
  return LibStatus.intendedPanic(message);
}

/** Panics in a library thread on purpose (reported, not thrown). */
export function intendedBackgroundPanic(message: string): Promise<void> {
  return LibStatus.intendedBackgroundPanic(message);
}

/**
 * Waits at most `timeoutMs` (0..60000) for queued panic reports to be sent. Call
 * it when the app goes to the background (AppState `background`) with a short
 * timeout; what stays pending is sent after the next initializeApplication.
 */
export function flushPanicReports(timeoutMs: number): Promise<FlushPanicReportsResponse> {
  return LibStatus.flushPanicReports(timeoutMs);
}
