/**
 * The typed layer over any implementation of the native-module {@link Spec}:
 * the TurboModule in an app, a koffi adapter over the real `libstatus.so` in
 * this package's tests. It turns answer JSON into typed results and error
 * answers into {@link LibStatusError} / {@link LibStatusPanicError}.
 */
import type { Spec } from './NativeLibStatus';

/** The codes of the C ABI's error answers. */
export type LibStatusErrorCode = 'invalid-request' | 'not-initialized' | 'panic' | 'internal';

const CODES: readonly string[] = ['invalid-request', 'not-initialized', 'panic', 'internal'];

/** An error answer of libstatus, or a failure to get one. */
export class LibStatusError extends Error {
  override name = 'LibStatusError';
  /** The answer's `code`. */
  readonly code: LibStatusErrorCode;
  /** The export that answered, e.g. `InitializeApplication`. */
  readonly endpoint: string;

  constructor(code: LibStatusErrorCode, message: string, endpoint: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.endpoint = endpoint;
  }
}

/**
 * A panic was caught inside the library (code `panic`): the app goes on, and the
 * panic was reported for users who opted in. `message` is the panic's message
 * (sensitive JSON values masked).
 */
export class LibStatusPanicError extends LibStatusError {
  override name = 'LibStatusPanicError';
  declare readonly code: 'panic';

  constructor(message: string, endpoint: string, options?: { cause?: unknown }) {
    super('panic', message, endpoint, options);
  }
}

/** `logLevel` values; the library also accepts them in any case. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** InitializeApplication's request (status-go's; other keys are ignored). */
export interface InitializeApplicationRequest {
  /** Required: created if missing; holds the opt-in file and the report outbox. */
  dataDir: string;
  /** Wins over a DSN baked in at build time. */
  sentryDSN?: string;
  /** Empty means dataDir. */
  logDir?: string;
  logEnabled?: boolean;
  logLevel?: LogLevel;
  logToStderr?: boolean;
  apiLoggingEnabled?: boolean;
  /** Report fatal errors (signals, aborts) inside the library at the next start. */
  reportFatalErrors?: boolean;
  /** Who sends the reports: the library (default) or the app (`PanicReportSender`). */
  transport?: 'library' | 'host';
  [otherKey: string]: unknown;
}

/** The stored metrics opt-in; both false when the user was never asked. */
export interface CentralizedMetricsInfo {
  enabled: boolean;
  userConfirmed: boolean;
}

/** Whether panics are reported, and why not. */
export interface PanicReportingStatus {
  active: boolean;
  /** Why reporting is off; empty when active. */
  reason: string;
  environment: string;
  contextName: string;
  contextVersion: string;
  /** Whether fatal errors inside the library are reported (`reportFatalErrors`). */
  fatalErrors: boolean;
  /** Who sends the reports: `library` or `host`. */
  transport: 'library' | 'host';
}

export interface InitializeApplicationResponse {
  centralizedMetricsInfo: CentralizedMetricsInfo;
  panicReporting: PanicReportingStatus;
}

export interface FlushPanicReportsResponse {
  /** Reports not yet delivered (they stay on disk and go after the next start). */
  pending: number;
}

/** Which pending reports `panicReports` lists: after `after` (a page's `next`), at most `limit` (1..100). */
export interface PanicReportsRequest {
  after?: string;
  limit?: number;
}

/** A report waiting in the outbox, with the exact body that will be sent. */
export interface PendingPanicReport {
  id: string;
  eventId: string | null;
  happenedAtMs: number;
  endpoint: string | null;
  thread: string | null;
  site: string | null;
  carries: { sameSite: number; otherSites: number; droppedReports: number };
  attempts: number;
  inFlight: boolean;
  bytes: number;
  /** Byte for byte the HTTP body the library will post (null: not UTF-8 text). */
  body: string | null;
}

/** A delivered report: ids and times, no payload. */
export interface SentPanicReport {
  id: string;
  eventId: string | null;
  happenedAtMs: number;
  acceptedAtMs: number;
}

export interface PanicReportsResponse {
  pending: PendingPanicReport[];
  pendingTotal: number;
  /** Pass as `after` for the next page; null on the last one. */
  next: string | null;
  sent: SentPanicReport[];
  dropped: { stormControl: number; outboxBound: number; optOut: number; deletedByUser: number; sinceMs: number };
}

export type DeletePanicReportsRequest = { ids: string[] } | { all: true };

export interface DeletePanicReportsResponse {
  deleted: number;
  /** Ids asked for that were no longer pending (delivered, evicted, unknown). */
  notPending: number;
}

/** The API, as promises. */
export interface LibStatusApi {
  initializeApplication(request: InitializeApplicationRequest): Promise<InitializeApplicationResponse>;
  toggleCentralizedMetrics(enabled: boolean): Promise<void>;
  centralizedMetricsInfo(): Promise<CentralizedMetricsInfo>;
  /** Always rejects with a {@link LibStatusPanicError} carrying `message`. */
  intendedPanic(message: string): Promise<never>;
  intendedBackgroundPanic(message: string): Promise<void>;
  /** Waits at most `timeoutMs` (0..60000) for queued panic reports to be sent. */
  flushPanicReports(timeoutMs: number): Promise<FlushPanicReportsResponse>;
  /** What the user can see: pending reports (exact bodies), delivered ones, what was removed. */
  panicReports(request?: PanicReportsRequest): Promise<PanicReportsResponse>;
  /** Deletes pending reports for good (never sent, even one in flight); `all` clears the history too. */
  deletePanicReports(request: DeletePanicReportsRequest): Promise<DeletePanicReportsResponse>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toCode(code: unknown): LibStatusErrorCode {
  return typeof code === 'string' && CODES.includes(code) ? (code as LibStatusErrorCode) : 'internal';
}

function makeError(code: LibStatusErrorCode, message: string, endpoint: string, cause?: unknown): LibStatusError {
  const options = cause === undefined ? undefined : { cause };
  return code === 'panic'
    ? new LibStatusPanicError(message, endpoint, options)
    : new LibStatusError(code, message, endpoint, options);
}

/**
 * Parses an answer: an object whose `error` is a non-empty string is an error
 * answer and throws; anything else is returned as the parsed object.
 */
export function parseAnswer(answer: unknown, endpoint: string): Record<string, unknown> {
  if (typeof answer !== 'string') {
    throw new LibStatusError('internal', `${endpoint}: the native module answered ${typeof answer}`, endpoint);
  }
  let value: unknown;
  try {
    value = JSON.parse(answer);
  } catch (e) {
    throw new LibStatusError('internal', `${endpoint}: the answer is not JSON`, endpoint, { cause: e });
  }
  if (!isObject(value)) {
    throw new LibStatusError('internal', `${endpoint}: the answer is not a JSON object`, endpoint);
  }
  if (typeof value.error === 'string' && value.error !== '') {
    throw makeError(toCode(value.code), value.error, endpoint);
  }
  return value;
}

/** A rejection of the native module (no answer at all) as a LibStatusError. */
function fromRejection(reason: unknown, endpoint: string): LibStatusError {
  if (reason instanceof LibStatusError) {
    return reason;
  }
  const code = isObject(reason) ? toCode(reason.code) : 'internal';
  const message =
    reason instanceof Error ? reason.message : isObject(reason) && typeof reason.message === 'string'
      ? reason.message
      : String(reason);
  return makeError(code, `${endpoint}: ${message}`, endpoint, reason);
}

async function call(endpoint: string, run: () => Promise<string>): Promise<Record<string, unknown>> {
  let answer: string;
  try {
    answer = await run();
  } catch (reason) {
    throw fromRejection(reason, endpoint);
  }
  return parseAnswer(answer, endpoint);
}

function bool(value: unknown, what: string, endpoint: string): boolean {
  if (typeof value !== 'boolean') {
    throw new LibStatusError('internal', `${endpoint}: ${what} is not a boolean`, endpoint);
  }
  return value;
}

function str(value: unknown, what: string, endpoint: string): string {
  if (typeof value !== 'string') {
    throw new LibStatusError('internal', `${endpoint}: ${what} is not a string`, endpoint);
  }
  return value;
}

function metricsInfo(value: unknown, endpoint: string): CentralizedMetricsInfo {
  if (!isObject(value)) {
    throw new LibStatusError('internal', `${endpoint}: no metrics info in the answer`, endpoint);
  }
  return {
    enabled: bool(value.enabled, 'enabled', endpoint),
    userConfirmed: bool(value.userConfirmed, 'userConfirmed', endpoint),
  };
}

/** The typed API over a native module. */
export function createLibStatus(native: Spec): LibStatusApi {
  return {
    async initializeApplication(request) {
      const endpoint = 'InitializeApplication';
      const answer = await call(endpoint, () => native.initializeApplication(JSON.stringify(request)));
      const reporting = answer.panicReporting;
      if (!isObject(reporting)) {
        throw new LibStatusError('internal', `${endpoint}: no panicReporting in the answer`, endpoint);
      }
      return {
        centralizedMetricsInfo: metricsInfo(answer.centralizedMetricsInfo, endpoint),
        panicReporting: {
          active: bool(reporting.active, 'active', endpoint),
          reason: str(reporting.reason, 'reason', endpoint),
          environment: str(reporting.environment, 'environment', endpoint),
          contextName: str(reporting.contextName, 'contextName', endpoint),
          contextVersion: str(reporting.contextVersion, 'contextVersion', endpoint),
          fatalErrors: bool(reporting.fatalErrors, 'fatalErrors', endpoint),
          transport: reporting.transport === 'host' ? 'host' : 'library',
        },
      };
    },

    async toggleCentralizedMetrics(enabled) {
      await call('ToggleCentralizedMetrics', () =>
        native.toggleCentralizedMetrics(JSON.stringify({ enabled })),
      );
    },

    async centralizedMetricsInfo() {
      const endpoint = 'CentralizedMetricsInfo';
      return metricsInfo(await call(endpoint, () => native.centralizedMetricsInfo()), endpoint);
    },

    async intendedPanic(message) {
      const endpoint = 'IntendedPanic';
      await call(endpoint, () => native.intendedPanic(message));
      throw new LibStatusError('internal', `${endpoint}: the library did not panic`, endpoint);
    },

    async intendedBackgroundPanic(message) {
      await call('IntendedBackgroundPanic', () => native.intendedBackgroundPanic(message));
    },

    async flushPanicReports(timeoutMs) {
      const endpoint = 'FlushPanicReports';
      // The native side takes an int: refuse what would not convert exactly.
      if (!Number.isInteger(timeoutMs)) {
        throw new LibStatusError('invalid-request', `timeoutMs must be an integer, got ${timeoutMs}`, endpoint);
      }
      const answer = await call(endpoint, () => native.flushPanicReports(timeoutMs));
      if (typeof answer.pending !== 'number') {
        throw new LibStatusError('internal', `${endpoint}: pending is not a number`, endpoint);
      }
      return { pending: answer.pending };
    },

    async panicReports(request = {}) {
      const endpoint = 'PanicReports';
      const answer = await call(endpoint, () => native.panicReports(JSON.stringify(request)));
      if (!Array.isArray(answer.pending) || !Array.isArray(answer.sent) || !isObject(answer.dropped)) {
        throw new LibStatusError('internal', `${endpoint}: pending, sent or dropped missing`, endpoint);
      }
      return {
        pending: answer.pending as PendingPanicReport[],
        pendingTotal: answer.pendingTotal as number,
        next: (answer.next as string | null) ?? null,
        sent: answer.sent as SentPanicReport[],
        dropped: answer.dropped as PanicReportsResponse['dropped'],
      };
    },

    async deletePanicReports(request) {
      const endpoint = 'DeletePanicReports';
      const answer = await call(endpoint, () => native.deletePanicReports(JSON.stringify(request)));
      if (typeof answer.deleted !== 'number' || typeof answer.notPending !== 'number') {
        throw new LibStatusError('internal', `${endpoint}: deleted is not a number`, endpoint);
      }
      return { deleted: answer.deleted, notPending: answer.notPending };
    },
  };
}
