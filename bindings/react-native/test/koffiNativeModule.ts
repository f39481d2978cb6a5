/**
 * A native module over the REAL libstatus.so, through koffi: it implements the
 * same {@link Spec} as the TurboModule, so the typed layer is tested against
 * the library itself. Like the iOS module it calls the C ABI: each answer is
 * taken as a pointer, decoded (UTF-8), then freed with the library's Free.
 * Calls run on koffi's worker threads (`.async`), so Promise.all really calls
 * the library from several threads at once; like the Android module's pool, at
 * most {@link MAX_IN_FLIGHT} run at a time (koffi refuses too many), the others
 * wait their turn.
 */
import koffi from 'koffi';
import type { Spec } from '../src/NativeLibStatus';

export interface KoffiNativeModule extends Spec {
  /** Answers received and answers freed: equal when nothing leaked. */
  stats(): { answers: number; freed: number };
}

const MAX_IN_FLIGHT = 8;

type AsyncFn = koffi.KoffiFunction & {
  async: (...args: unknown[]) => void;
};

export function createKoffiNativeModule(soPath: string): KoffiNativeModule {
  const lib = koffi.load(soPath);
  const free = lib.func('void Free(void *ptr)');
  const withString = (name: string) => lib.func(`void *${name}(const char *arg)`) as AsyncFn;
  const initializeApplication = withString('InitializeApplication');
  const toggleCentralizedMetrics = withString('ToggleCentralizedMetrics');
  const intendedPanic = withString('IntendedPanic');
  const intendedBackgroundPanic = withString('IntendedBackgroundPanic');
  const panicReports = withString('PanicReports');
  const deletePanicReports = withString('DeletePanicReports');
  const centralizedMetricsInfo = lib.func('void *CentralizedMetricsInfo()') as AsyncFn;
  const flushPanicReports = lib.func('void *FlushPanicReports(int timeoutMs)') as AsyncFn;
  const nextPanicReport = withString('NextPanicReport');
  const panicReportOutcome = withString('PanicReportOutcome');
  let answers = 0;
  let freed = 0;
  let inFlight = 0;
  const waiting: (() => void)[] = [];

  /** Copies the answer into a JS string, then frees it (exactly once). */
  function take(ptr: unknown): string {
    if (ptr === null) {
      throw Object.assign(new Error('the library returned NULL (out of memory)'), { code: 'internal' });
    }
    answers++;
    try {
      return koffi.decode(ptr, 'char', -1) as string;
    } finally {
      free(ptr);
      freed++;
    }
  }

  function callNow(fn: AsyncFn, args: unknown[]): Promise<string> {
    return new Promise((resolve, reject) => {
      fn.async(...args, (err: unknown, ptr: unknown) => {
        if (err) {
          reject(err);
          return;
        }
        try {
          resolve(take(ptr));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  async function call(fn: AsyncFn, ...args: unknown[]): Promise<string> {
    if (inFlight >= MAX_IN_FLIGHT) {
      await new Promise<void>((wake) => waiting.push(wake));
    }
    inFlight++;
    try {
      return await callNow(fn, args);
    } finally {
      inFlight--;
      waiting.shift()?.();
    }
  }

  return {
    initializeApplication: (requestJson) => call(initializeApplication, requestJson),
    toggleCentralizedMetrics: (requestJson) => call(toggleCentralizedMetrics, requestJson),
    centralizedMetricsInfo: () => call(centralizedMetricsInfo),
    intendedPanic: (message) => call(intendedPanic, message),
    intendedBackgroundPanic: (message) => call(intendedBackgroundPanic, message),
    flushPanicReports: (timeoutMs) => call(flushPanicReports, timeoutMs),
    panicReports: (requestJson) => call(panicReports, requestJson),
    deletePanicReports: (requestJson) => call(deletePanicReports, requestJson),
    nextPanicReport: (requestJson) => call(nextPanicReport, requestJson),
    panicReportOutcome: (requestJson) => call(panicReportOutcome, requestJson),
    stats: () => ({ answers, freed }),
  };
}
