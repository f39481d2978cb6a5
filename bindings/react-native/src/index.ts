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
import { NativeModules } from 'react-native';
import NativeLibStatus from './NativeLibStatus';
import type { Spec } from './NativeLibStatus';
import { createLibStatus } from './LibStatus';
import { createLibStatusRaw } from './raw';
import type { LibStatusRaw } from './raw';
import type {
  CentralizedMetricsInfo,
  FlushPanicReportsResponse,
  PanicReportsRequest,
  PanicReportsResponse,
  DeletePanicReportsRequest,
  DeletePanicReportsResponse,
  InitializeApplicationRequest,
  InitializeApplicationResponse,
  LibStatusApi,
} from './LibStatus';

export * from './LibStatus';
export * from './raw';
export * from './PanicReportSender';
import { PanicReportSender } from './PanicReportSender';
export type { Spec as NativeLibStatusSpec } from './NativeLibStatus';

const LINKING_ERROR =
  "The native module LibStatus is not linked: run 'pod install' (iOS), rebuild the app, " +
  'and check that LibStatusPackage is registered (Android).';

/**
 * The native module: the TurboModule on the new architecture, the bridge
 * module (`NativeModules.LibStatus`, `RCT_EXPORT_METHOD` / `@ReactMethod`) on
 * the old one. Without either, every call throws the linking error.
 */
export const nativeModule: Spec =
  NativeLibStatus ??
  (NativeModules.LibStatus as Spec | undefined) ??
  new Proxy({} as Spec, {
    get() {
      throw new Error(LINKING_ERROR);
    },
  });

/** The typed API: promises of typed results, rejecting with LibStatusError. */
export const LibStatus: LibStatusApi = createLibStatus(nativeModule);

/**
 * The raw API, status-go's native-method shape: JSON string in, the answer JSON
 * out (resolved, and passed to the optional callback), error answers included.
 */
export const raw: LibStatusRaw = createLibStatusRaw(nativeModule);

/** Sets the library up for a data directory; call it first. */
export function initializeApplication(request: InitializeApplicationRequest): Promise<InitializeApplicationResponse> {
  return LibStatus.initializeApplication(request);
}

/** Stores the user's metrics opt-in; opting out deletes unsent reports. */
export async function toggleCentralizedMetrics(enabled: boolean): Promise<void> {
  await LibStatus.toggleCentralizedMetrics(enabled);
  if (!enabled) {
    // The library has deleted the reports; a request in flight is cancelled too.
    PanicReportSender.cancelAll();
  }
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

/**
 * What the user can see of the panic reports: every pending report with the
 * exact body that will be sent, the delivered ones, and what was removed. For
 * a privacy screen; works while opted out.
 */
export function panicReports(request?: PanicReportsRequest): Promise<PanicReportsResponse> {
  return LibStatus.panicReports(request);
}

/** Deletes pending reports for good (`{ids}` or `{all: true}`, which also clears the history). */
export function deletePanicReports(request: DeletePanicReportsRequest): Promise<DeletePanicReportsResponse> {
  return LibStatus.deletePanicReports(request);
}
