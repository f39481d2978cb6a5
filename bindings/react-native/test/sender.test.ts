/**
 * PanicReportSender (the host's transport, `fetch` + AbortController) against
 * the REAL libstatus.so (the koffi native module) and a Sentry envelope
 * receiver on loopback (node:http). A process of its own (test.sh runs each
 * file in its own node): the library keeps one state per process.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';

import * as libstatus from '../src/index';

type Reply = { status: number; retryAfter?: string } | 'hang';
const replies: Reply[] = [];
const received: { status: number | 'hang'; body: string; at: number }[] = [];
let hung: (() => void) | null = null;
const held: http.ServerResponse[] = [];

function listen(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = replies.shift() ?? { status: 200 };
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ status: reply === 'hang' ? 'hang' : reply.status, body, at: performance.now() });
      if (reply === 'hang') {
        held.push(res);
        hung?.();
        return;
      }
      res.writeHead(reply.status, reply.retryAfter ? { 'Retry-After': reply.retryAfter } : {});
      res.end('{}');
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function waitFor(what: string, condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const delivered = (message: string) => received.some((r) => r.status === 200 && r.body.includes(message));
const outbox = (dir: string) => fs.readdirSync(path.join(dir, 'panic-reports')).filter((f) => f.endsWith('.envelope')).length;
const panic = (message: string) => libstatus.intendedPanic(message).catch(() => undefined);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'libstatus-rn-sender-'));
let server: http.Server;
let port = 0;
const sender = new libstatus.PanicReportSender(libstatus.nativeModule, { idleMs: 100, timeoutMs: 10_000 });
after(() => {
  sender.stop();
  for (const res of held) res.destroy();
  server.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the host transport delivers through fetch', async () => {
  server = await listen(0);
  port = (server.address() as AddressInfo).port;
  process.env.SENTRY_ENVIRONMENT = 'ci-main';
  fs.writeFileSync(path.join(dataDir, 'centralized-metrics.json'), '{"enabled":true,"userConfirmed":true}');
  const init = await libstatus.initializeApplication({
    dataDir,
    sentryDSN: `http://5ecre7f00dfacade5ecre7f00dfacade@127.0.0.1:${port}/42`,
    transport: 'host',
    panicStormWindowMs: 100,
  });
  assert.equal(init.panicReporting.transport, 'host');
  assert.equal(init.panicReporting.active, true, init.panicReporting.reason);
  sender.start();
  await panic('rn: delivered');
  await waitFor('the report', () => delivered('rn: delivered'));
  await waitFor('its deletion', () => outbox(dataDir) === 0, 5_000);
});

test('a 429 with Retry-After withholds the next report until then', async () => {
  replies.push({ status: 429, retryAfter: '2' });
  const before = received.length;
  await panic('rn: told to wait');
  await waitFor('the first request', () => received.length === before + 1, 10_000);
  await panic('rn: behind it');
  await waitFor('both reports', () => delivered('rn: told to wait') && delivered('rn: behind it'));
  assert.ok(received[before + 1].at - received[before].at >= 2000, 'a request came before Retry-After');
});

test('a network failure drops nothing', async () => {
  await new Promise((r) => server.close(r));
  const retried = sender.stats.retried;
  await panic('rn: through a dead network');
  await waitFor('a network failure', () => sender.stats.retried > retried, 10_000);
  assert.equal(outbox(dataDir), 1, 'the report is kept');
  server = await listen(port);
  await waitFor('the report after the backoff', () => delivered('rn: through a dead network'), 30_000);
});

test('an opt-out aborts the request in flight and its report is not counted', async () => {
  const reached = new Promise<void>((r) => (hung = r));
  replies.push('hang');
  const refused = sender.stats.refused;
  await panic('rn: opted out mid-send');
  await reached;
  await libstatus.toggleCentralizedMetrics(false);
  await waitFor('the aborted request\'s outcome', () => sender.stats.refused > refused, 5_000);
  assert.ok(sender.stats.cancelled > 0, 'AbortController.abort was called');
  assert.equal(outbox(dataDir), 0, 'the report is gone from disk');
  const next = JSON.parse(await libstatus.nativeModule.nextPanicReport('{}'));
  assert.equal(next.none, true);
});
