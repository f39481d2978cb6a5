/**
 * The typed wrapper (src/index.ts over src/NativeLibStatus.ts) against the real
 * libstatus.so. test.sh compiles this and runs it with a stand-in 'react-native'
 * module whose TurboModuleRegistry.get('LibStatus') returns the koffi native
 * module (test/koffiNativeModule.ts): the new architecture's path; the old one's
 * (NativeModules.LibStatus) is test/oldArch.test.ts. The exact code an app
 * imports is exercised. Tests run in order: the first ones run before
 * initialization.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as libstatus from '../src/index';
import { LibStatusError, LibStatusPanicError, parseAnswer } from '../src/index';
import NativeLibStatus from '../src/NativeLibStatus';
import type { KoffiNativeModule } from './koffiNativeModule';

const native = libstatus.nativeModule as KoffiNativeModule;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'libstatus-rn-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

async function rejectsWith<T extends LibStatusError>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
  code: string,
  message?: string,
): Promise<T> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message !== undefined) {
      assert.equal(e.message, message);
    }
    return e;
  }
  assert.fail(`expected ${type.name} (${code}), nothing was thrown`);
}

test('the stand-in registry hands out the koffi module (new architecture: the TurboModule)', () => {
  assert.equal(typeof native.stats, 'function');
  assert.equal(libstatus.nativeModule, NativeLibStatus);
});

test('before initializeApplication: not-initialized; intendedPanic works', async () => {
  const e = await rejectsWith(libstatus.centralizedMetricsInfo(), LibStatusError, 'not-initialized');
  assert.ok(!(e instanceof LibStatusPanicError));
  assert.equal(e.endpoint, 'CentralizedMetricsInfo');
  await rejectsWith(libstatus.toggleCentralizedMetrics(true), LibStatusError, 'not-initialized');
  await rejectsWith(libstatus.intendedPanic('before init'), LibStatusPanicError, 'panic', 'before init');
  assert.deepEqual(await libstatus.flushPanicReports(0), { pending: 0 });
  await rejectsWith(libstatus.panicReports(), LibStatusError, 'not-initialized');
  await rejectsWith(libstatus.deletePanicReports({ all: true }), LibStatusError, 'not-initialized');
});

test('initializeApplication with a temp dataDir', async () => {
  const answer = await libstatus.initializeApplication({ dataDir, logEnabled: false, mixpanelAppId: 'ignored' });
  assert.deepEqual(answer.centralizedMetricsInfo, { enabled: false, userConfirmed: false });
  assert.equal(typeof answer.panicReporting.active, 'boolean');
  assert.equal(answer.panicReporting.fatalErrors, false);
  for (const key of ['reason', 'environment', 'contextName', 'contextVersion'] as const) {
    assert.equal(typeof answer.panicReporting[key], 'string', key);
  }
  assert.ok(fs.statSync(dataDir).isDirectory());
});

test('bad requests reject with LibStatusError invalid-request, not panics', async () => {
  const e = await rejectsWith(libstatus.initializeApplication({ dataDir: '' }), LibStatusError, 'invalid-request');
  assert.ok(!(e instanceof LibStatusPanicError));
  await rejectsWith(
    libstatus.initializeApplication({ dataDir, logLevel: 'loud' as never }),
    LibStatusError,
    'invalid-request',
  );
  for (const junk of ['', 'not json', '[1,2]', '"text"', '{', 'null', '{"enabled":"yes"}']) {
    const raw = await native.toggleCentralizedMetrics(junk);
    assert.throws(() => parseAnswer(raw, 'ToggleCentralizedMetrics'), (err: unknown) =>
      err instanceof LibStatusError && err.code === 'invalid-request');
  }
  await rejectsWith(libstatus.flushPanicReports(-1), LibStatusError, 'invalid-request');
  await rejectsWith(libstatus.flushPanicReports(60_001), LibStatusError, 'invalid-request');
  await rejectsWith(libstatus.flushPanicReports(1.5), LibStatusError, 'invalid-request');
});

test('consent: toggle, then centralizedMetricsInfo reads it back (durably)', async () => {
  await libstatus.toggleCentralizedMetrics(true);
  assert.deepEqual(await libstatus.centralizedMetricsInfo(), { enabled: true, userConfirmed: true });
  await libstatus.toggleCentralizedMetrics(false);
  assert.deepEqual(await libstatus.centralizedMetricsInfo(), { enabled: false, userConfirmed: true });
  const again = await libstatus.initializeApplication({ dataDir });
  assert.deepEqual(again.centralizedMetricsInfo, { enabled: false, userConfirmed: true });
});

test('raw layer: JSON in, the answer JSON out (callback and promise), error answers included', async () => {
  const { raw } = libstatus;
  const seen: string[] = [];
  const answer = await raw.initializeApplication(JSON.stringify({ DataDir: dataDir }), (json) => seen.push(json));
  assert.deepEqual(seen, [answer]);
  assert.deepEqual(JSON.parse(answer).centralizedMetricsInfo, { enabled: false, userConfirmed: true });
  // status-go's key matching and missing-boolean rules.
  assert.equal(await raw.toggleCentralizedMetrics('{"Enabled":true}'), '{"error":""}');
  assert.deepEqual(JSON.parse(await raw.centralizedMetricsInfo()), { enabled: true, userConfirmed: true });
  assert.equal(await raw.toggleCentralizedMetrics('{}'), '{"error":""}');
  assert.deepEqual(JSON.parse(await raw.centralizedMetricsInfo()), { enabled: false, userConfirmed: true });
  // Error answers are answers, not rejections.
  const bad = JSON.parse(await raw.toggleCentralizedMetrics('{"enabled":"yes"}'));
  assert.equal(bad.code, 'invalid-request');
  const conflicting = JSON.parse(await raw.toggleCentralizedMetrics('{"enabled":false,"ENABLED":true}'));
  assert.equal(conflicting.code, 'invalid-request');
  assert.deepEqual(JSON.parse(await raw.centralizedMetricsInfo()), { enabled: false, userConfirmed: true });
  assert.equal(await raw.intendedPanic('raw boom'), '{"error":"raw boom","code":"panic"}');
  assert.equal(await raw.intendedBackgroundPanic('raw background boom'), '{"error":""}');
  assert.match(await raw.flushPanicReports(0), /^\{"error":"","pending":\d+\}$/);
  assert.equal(JSON.parse(await raw.flushPanicReports(-1)).code, 'invalid-request');
  // What the user can see, and its deletion (nothing pending: no DSN).
  const listed = await libstatus.panicReports({ limit: 10 });
  assert.ok(Array.isArray(listed.pending) && Array.isArray(listed.sent));
  assert.equal(typeof listed.dropped.stormControl, 'number');
  assert.deepEqual(await libstatus.deletePanicReports({ ids: ['no-such-report'] }), { deleted: 0, notPending: 1 });
  assert.equal(typeof (await libstatus.deletePanicReports({ all: true })).deleted, 'number');
  assert.equal((await libstatus.panicReports()).pending.length, 0);
  await rejectsWith(libstatus.panicReports({ limit: 0 }), LibStatusError, 'invalid-request');
  assert.equal(JSON.parse(await raw.deletePanicReports('{}')).code, 'invalid-request');
  assert.match(await raw.panicReports('{}'), /^\{"error":"","pending":\[/);
  const noDir = JSON.parse(await raw.initializeApplication('{}'));
  assert.equal(noDir.code, 'invalid-request');
  assert.match(noDir.error, /dataDir/);
});

test('raw layer: a native rejection becomes an error answer, never a rejection', async () => {
  const failing = {
    initializeApplication: () => Promise.reject(Object.assign(new Error('out of memory'), { code: 'internal' })),
  } as unknown as Parameters<typeof libstatus.createLibStatusRaw>[0];
  let called = '';
  const answer = await libstatus.createLibStatusRaw(failing).initializeApplication('{}', (json) => (called = json));
  assert.deepEqual(JSON.parse(answer), { error: 'out of memory', code: 'internal' });
  assert.equal(called, answer);
});

test('intendedPanic rejects with LibStatusPanicError carrying the message', async () => {
  const e = await rejectsWith(libstatus.intendedPanic('force crash from JS'), LibStatusPanicError, 'panic',
    'force crash from JS');
  assert.ok(e instanceof LibStatusError && e instanceof Error);
  assert.equal(e.name, 'LibStatusPanicError');
  assert.equal(e.endpoint, 'IntendedPanic');
  await rejectsWith(libstatus.intendedPanic('bad {"password":"hunter2"}'), LibStatusPanicError, 'panic',
    'bad {"password":"***"}');
  // The library goes on.
  await libstatus.centralizedMetricsInfo();
});

test('the raw answer is error-first JSON', async () => {
  assert.equal(await native.intendedPanic('raw "quoted"'), '{"error":"raw \\"quoted\\"","code":"panic"}');
});

test('emoji and other non-ASCII JSON round-trip intact', async () => {
  const samples = [
    '{"greeting":"hello 😀 👩‍👩‍👧‍👦 🇨🇭","math":"𝔘𝔫𝔦𝔠𝔬𝔡𝔢"}',
    'héllo wörld — 中文 日本語 한국어 العربية',
    '\u{1F600}',
    '𐍈 and U+10FFFF: \u{10FFFF}',
    'tab\tnewline\nquote"backslash\\',
  ];
  for (const sample of samples) {
    await rejectsWith(libstatus.intendedPanic(sample), LibStatusPanicError, 'panic', sample);
    const raw = await native.intendedPanic(sample);
    assert.equal(JSON.parse(raw).error, sample);
  }
});

test('intendedBackgroundPanic and flushPanicReports', async () => {
  await libstatus.intendedBackgroundPanic('background from JS 😀');
  const flushed = await libstatus.flushPanicReports(100);
  assert.ok(Number.isInteger(flushed.pending) && flushed.pending >= 0);
});

test('concurrent calls from several threads (Promise.all)', async () => {
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 64; i++) {
    const message = `call ${i} 😀`;
    calls.push(
      libstatus.intendedPanic(message).then(
        () => assert.fail('no panic'),
        (e: unknown) => {
          assert.ok(e instanceof LibStatusPanicError);
          assert.equal(e.message, message);
        },
      ),
    );
    calls.push(libstatus.centralizedMetricsInfo().then((info) => assert.equal(typeof info.enabled, 'boolean')));
    calls.push(libstatus.toggleCentralizedMetrics(i % 2 === 0));
    calls.push(libstatus.flushPanicReports(0));
    if (i % 16 === 0) {
      calls.push(libstatus.intendedBackgroundPanic(message));
      calls.push(libstatus.initializeApplication({ dataDir }));
    }
  }
  const results = await Promise.allSettled(calls);
  const failures = results.filter((r) => r.status === 'rejected');
  assert.deepEqual(failures, []);
});

test('every answer is freed with Free; 128 KiB answers keep the RSS flat', async () => {
  const chunk = '0123456789abcdef'.repeat(8 * 1024) + '😀';
  const request = JSON.stringify({ enabled: chunk }); // echoed in the invalid-type error
  const round = async () => {
    const raw = await native.toggleCentralizedMetrics(request);
    assert.ok(raw.length > chunk.length && raw.includes('"code":"invalid-request"'));
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 100; i++) await round();
  gc?.();
  const before = process.memoryUsage().rss;
  const calls = 800;
  for (let i = 0; i < calls; i++) await round();
  gc?.();
  const growthMiB = (process.memoryUsage().rss - before) / (1024 * 1024);
  const ifLeakingMiB = (calls * chunk.length) / (1024 * 1024);
  console.log(`# RSS +${growthMiB.toFixed(1)} MiB (leaking each answer would add > ${ifLeakingMiB.toFixed(0)} MiB)`);
  assert.ok(growthMiB < 48, `RSS grew by ${growthMiB} MiB`);
  const { answers, freed } = native.stats();
  assert.equal(freed, answers);
  assert.ok(answers > calls);
});
