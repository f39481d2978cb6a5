// The names this package uses from 'react-native', declared here so that this
// package type-checks (and its tests run) without installing react-native. In
// an app, react-native's own declarations apply (this directory is only in this
// package's tsconfig).
declare module 'react-native' {
  export interface TurboModule {
    getConstants?(): {};
  }
  export const TurboModuleRegistry: {
    get<T extends TurboModule>(name: string): T | null;
    getEnforcing<T extends TurboModule>(name: string): T;
  };
  /** The old architecture's modules (the bridge), by name. */
  export const NativeModules: { [name: string]: any };
}
