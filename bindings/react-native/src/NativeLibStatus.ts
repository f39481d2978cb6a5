/**
 * The TurboModule spec of libstatus (read by @react-native/codegen, see
 * `codegenConfig` in package.json). One method per C ABI export; every method
 * resolves with the library's answer JSON exactly as the C ABI gives it, error
 * answers included (`{"error":"...","code":"..."}`). The native modules never
 * interpret answers: the typed wrapper (`index.ts`, `LibStatus.ts`) does, the
 * same way on Android and iOS. A native module rejects only when it cannot get
 * an answer at all (the JNI glue ran out of memory, say), with a `code`.
 */
import type { TurboModule } from 'react-native';
import { TurboModuleRegistry } from 'react-native';

export interface Spec extends TurboModule {
  initializeApplication(requestJson: string): Promise<string>;
  toggleCentralizedMetrics(requestJson: string): Promise<string>;
  centralizedMetricsInfo(): Promise<string>;
  intendedPanic(message: string): Promise<string>;
  intendedBackgroundPanic(message: string): Promise<string>;
  flushPanicReports(timeoutMs: number): Promise<string>;
  panicReports(requestJson: string): Promise<string>;
  deletePanicReports(requestJson: string): Promise<string>;
  /** The host's transport (see PanicReportSender.ts). */
  nextPanicReport(requestJson: string): Promise<string>;
  panicReportOutcome(requestJson: string): Promise<string>;
}

/**
 * The TurboModule on the new architecture. On the old one (the bridge) this is
 * React Native's legacy fallback (`NativeModules.LibStatus`) or null; index.ts
 * then takes `NativeModules.LibStatus` itself, as create-react-native-library's
 * backward-compatible template does.
 */
export default TurboModuleRegistry.get<Spec>('LibStatus');
