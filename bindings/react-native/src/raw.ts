/**
 * The raw layer: the shape of status-go's native methods in status-mobile
 * (`initializeApplication(request, callback)` calls back with the answer JSON,
 * error answers included, and never throws). Each method takes the request
 * JSON string, and both resolves with and (when given) calls `callback` with
 * the library's answer JSON exactly as the C ABI gives it:
 * `{"error":"..","code":".."}` answers included. It never rejects: when the
 * native module fails to produce an answer (out of memory), the answer is made
 * here, `{"error":"<message>","code":"<code, or internal>"}`, so code that
 * forwards JSON (status-mobile's `(callback (types/json->clj %))`) keeps working.
 */
import type { Spec } from './NativeLibStatus';

/** Receives the answer JSON. */
export type RawCallback = (answerJson: string) => void;

export interface LibStatusRaw {
  initializeApplication(requestJson: string, callback?: RawCallback): Promise<string>;
  toggleCentralizedMetrics(requestJson: string, callback?: RawCallback): Promise<string>;
  centralizedMetricsInfo(callback?: RawCallback): Promise<string>;
  intendedPanic(message: string, callback?: RawCallback): Promise<string>;
  intendedBackgroundPanic(message: string, callback?: RawCallback): Promise<string>;
  flushPanicReports(timeoutMs: number, callback?: RawCallback): Promise<string>;
  panicReports(requestJson: string, callback?: RawCallback): Promise<string>;
  deletePanicReports(requestJson: string, callback?: RawCallback): Promise<string>;
}

function rejectionAnswer(reason: unknown): string {
  const r = (typeof reason === 'object' && reason !== null ? reason : {}) as { code?: unknown; message?: unknown };
  const message = typeof r.message === 'string' && r.message !== '' ? r.message : String(reason) || 'no answer';
  const code = typeof r.code === 'string' && r.code !== '' ? r.code : 'internal';
  return JSON.stringify({ error: message, code });
}

async function settle(run: () => Promise<string>, callback?: RawCallback): Promise<string> {
  let answer: string;
  try {
    answer = await run();
    if (typeof answer !== 'string') answer = rejectionAnswer(new Error('the native module answered no string'));
  } catch (reason) {
    answer = rejectionAnswer(reason);
  }
  callback?.(answer);
  return answer;
}

/** The raw layer over any implementation of the native-module {@link Spec}. */
export function createLibStatusRaw(native: Spec): LibStatusRaw {
  return {
    initializeApplication: (requestJson, callback) => settle(() => native.initializeApplication(requestJson), callback),
    toggleCentralizedMetrics: (requestJson, callback) =>
      settle(() => native.toggleCentralizedMetrics(requestJson), callback),
    centralizedMetricsInfo: (callback) => settle(() => native.centralizedMetricsInfo(), callback),
    intendedPanic: (message, callback) => settle(() => native.intendedPanic(message), callback),
    intendedBackgroundPanic: (message, callback) => settle(() => native.intendedBackgroundPanic(message), callback),
    flushPanicReports: (timeoutMs, callback) => settle(() => native.flushPanicReports(timeoutMs), callback),
    panicReports: (requestJson, callback) => settle(() => native.panicReports(requestJson), callback),
    deletePanicReports: (requestJson, callback) => settle(() => native.deletePanicReports(requestJson), callback),
  };
}
