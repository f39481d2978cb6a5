/**
 * The old architecture's path (the bridge): test.sh runs this file with a
 * stand-in 'react-native' where TurboModuleRegistry.get('LibStatus') is null
 * (no TurboModule) and NativeModules.LibStatus is the koffi module over the
 * real libstatus.so, as React Native 0.71-0.73 with newArchEnabled=false gives
 * a bridge module. index.ts must pick NativeModules.LibStatus; the typed and
 * raw APIs then work over it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NativeModules } from 'react-native';

import * as libstatus from '../src/index';
import NativeLibStatus from '../src/NativeLibStatus';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'libstatus-rn-old-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

test('no TurboModule: index.ts takes NativeModules.LibStatus', () => {
  assert.equal(NativeLibStatus, null);
  assert.ok(NativeModules.LibStatus);
  assert.equal(libstatus.nativeModule, NativeModules.LibStatus);
});

test('typed and raw APIs over the bridge module', async () => {
  assert.equal(JSON.parse(await libstatus.raw.centralizedMetricsInfo()).code, 'not-initialized');
  const init = await libstatus.initializeApplication({ dataDir });
  assert.deepEqual(init.centralizedMetricsInfo, { enabled: false, userConfirmed: false });
  await libstatus.toggleCentralizedMetrics(true);
  assert.deepEqual(await libstatus.centralizedMetricsInfo(), { enabled: true, userConfirmed: true });
  assert.equal(await libstatus.raw.toggleCentralizedMetrics('{"ENABLED":false}'), '{"error":""}');
  assert.deepEqual(await libstatus.centralizedMetricsInfo(), { enabled: false, userConfirmed: true });
  await assert.rejects(libstatus.intendedPanic('old arch boom'), (e: unknown) =>
    e instanceof libstatus.LibStatusPanicError && e.message === 'old arch boom');
  assert.ok(Array.isArray((await libstatus.panicReports()).pending));
  assert.deepEqual(await libstatus.deletePanicReports({ ids: [] }), { deleted: 0, notPending: 0 });
  assert.match(await libstatus.raw.deletePanicReports('{"all":true}'), /^\{"error":"","deleted":\d+,"notPending":0\}$/);
});
