/**
 * The host's transport for panic reports (`initializeApplication({ ...,
 * transport: 'host' })`): a small loop that pulls the next report from the
 * library (`NextPanicReport`), POSTs it with `fetch` (so it travels like the
 * app's other traffic), and tells the library what the server answered
 * (`PanicReportOutcome`). The library keeps the outbox, consent, storm
 * control, the send budget, the backoff and the server's waits: this loop
 * decides nothing.
 *
 * ```ts
 * const sender = new PanicReportSender(nativeModule);
 * AppState.addEventListener('change', (s) => (s === 'active' ? sender.start() : sender.stop()));
 * ```
 *
 * Backgrounded mid-send, the request may be suspended or killed: its report
 * stays in the outbox, its lease expires, and it is sent again after the next
 * start. An opt-out (`toggleCentralizedMetrics(false)`) aborts the request in
 * flight (`AbortController`); the library has deleted the report by then.
 */
import type { Spec } from './NativeLibStatus';

type Native = Pick<Spec, 'nextPanicReport' | 'panicReportOutcome'>;

export interface PanicReportSenderOptions {
  /** Longest sleep between pulls when nothing is due (ms); default 30000. */
  idleMs?: number;
  /** Each request's time-out (ms); default 30000. */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

const running = new Set<PanicReportSender>();

export class PanicReportSender {
  /** What the loop did, for diagnostics and tests. */
  readonly stats = { delivered: 0, retried: 0, refused: 0, cancelled: 0 };
  private active = false;
  private inFlight: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private wake: (() => void) | null = null;
  private readonly idleMs: number;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly native: Native, options: PanicReportSenderOptions = {}) {
    this.idleMs = options.idleMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** Aborts the request every running sender has in flight (an opt-out). */
  static cancelAll(): void {
    for (const sender of running) sender.cancel();
  }

  /** Starts the loop (when the app starts or comes to the foreground). */
  start(): void {
    if (this.active) return;
    this.active = true;
    running.add(this);
    void this.loop();
  }

  /** Stops it (the app goes to the background): the request in flight is aborted and its report kept. */
  stop(): void {
    this.active = false;
    running.delete(this);
    this.cancel();
    this.kick();
  }

  /** Looks for a report now (after a panic the app saw, say). */
  kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake?.();
  }

  private cancel(): void {
    if (this.inFlight) {
      this.stats.cancelled++;
      this.inFlight.abort();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async loop(): Promise<void> {
    while (this.active) {
      let report: Record<string, unknown>;
      try {
        report = JSON.parse(await this.native.nextPanicReport('{"leaseMs":' + (2 * this.timeoutMs + 5000) + '}'));
      } catch {
        await this.sleep(1000);
        continue;
      }
      if (typeof report.error === 'string' && report.error !== '') {
        // Not initialized yet, or the library's own transport.
        await this.sleep(this.idleMs);
        continue;
      }
      if (typeof report.id !== 'string') {
        const retry = typeof report.retryInMs === 'number' ? report.retryInMs : this.idleMs;
        await this.sleep(Math.min(retry, this.idleMs));
        continue;
      }
      const outcome = await this.send(report);
      const answer = JSON.parse(await this.native.panicReportOutcome(JSON.stringify(outcome)));
      if (answer.accepted !== true) this.stats.refused++;
      else if (answer.verdict === 'retry') this.stats.retried++;
      else this.stats.delivered++;
    }
  }

  private async send(report: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = report.id;
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), this.timeoutMs);
    this.inFlight = controller;
    try {
      const response = await this.fetchImpl(String(report.url), {
        method: 'POST',
        headers: report.headers as Record<string, string>,
        body: String(report.body),
        redirect: 'manual',
        signal: controller.signal,
      });
      await response.arrayBuffer().catch(() => undefined);
      const retryAfter = response.headers.get('Retry-After');
      const rateLimits = response.headers.get('X-Sentry-Rate-Limits');
      return {
        id,
        status: response.status,
        ...(retryAfter !== null ? { retryAfter } : {}),
        ...(rateLimits !== null ? { rateLimits } : {}),
      };
    } catch (e) {
      return { id, networkError: e instanceof Error ? e.name : 'network error' };
    } finally {
      clearTimeout(timeout);
      this.inFlight = null;
    }
  }
}
