#!/usr/bin/env node
// Runs @react-native/codegen on src/NativeLibStatus.ts into a directory (the
// schema, then the Android, C++ and iOS module interfaces, as an app build
// would), checks the expected files exist, and checks that the hand-written
// Android and iOS modules implement every method of the generated interfaces.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const pkg = path.resolve(__dirname, '..');
const out = path.resolve(process.argv[2] || fs.mkdtempSync(path.join(require('os').tmpdir(), 'codegen-')));
const config = require(path.join(pkg, 'package.json')).codegenConfig;
const libraryName = config.name;
const packageName = config.android.javaPackageName;
const codegen = path.dirname(require.resolve('@react-native/codegen/package.json', { paths: [pkg] }));

fs.mkdirSync(out, { recursive: true });
const schemaPath = path.join(out, 'schema.json');
execFileSync(process.execPath, [
  path.join(codegen, 'lib/cli/combine/combine-js-to-schema-cli.js'),
  schemaPath,
  path.join(pkg, config.jsSrcsDir, 'NativeLibStatus.ts'),
  '--libraryName', libraryName,
], { stdio: 'inherit' });
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const spec = schema.modules && schema.modules.NativeLibStatus;
if (!spec || spec.moduleName !== 'LibStatus') {
  throw new Error(`schema has no TurboModule LibStatus: ${JSON.stringify(schema).slice(0, 300)}`);
}

const RNCodegen = require(path.join(codegen, 'lib/generators/RNCodegen.js'));
const ok = RNCodegen.generate(
  { libraryName, schema, outputDirectory: out, packageName, assumeNonnull: false },
  { generators: ['modulesAndroid', 'modulesCxx', 'modulesIOS'], test: false },
);
if (!ok) throw new Error('codegen failed to write its output');

const javaSpec = path.join(out, 'java', ...packageName.split('.'), 'NativeLibStatusSpec.java');
const expected = [
  schemaPath,
  javaSpec,
  path.join(out, 'jni', `${libraryName}.h`),
  path.join(out, 'jni', `${libraryName}-generated.cpp`),
  path.join(out, `${libraryName}JSI.h`),
  path.join(out, `${libraryName}JSI-generated.cpp`),
  path.join(out, libraryName, `${libraryName}.h`),
  path.join(out, libraryName, `${libraryName}-generated.mm`),
];
const missing = expected.filter((f) => !fs.existsSync(f));
if (missing.length) {
  const all = execFileSync('find', [out, '-type', 'f']).toString();
  throw new Error(`codegen did not produce:\n  ${missing.join('\n  ')}\nit produced:\n${all}`);
}

// The Android module overrides every abstract method of the generated spec.
const methods = [...fs.readFileSync(javaSpec, 'utf8').matchAll(/public abstract void (\w+)\(([^)]*)\)/g)];
if (methods.length !== 8) throw new Error(`expected 8 methods in ${javaSpec}, found ${methods.length}`);
const androidModule = fs.readFileSync(
  path.join(pkg, 'android/src/main/java', ...packageName.split('.'), 'LibStatusModule.java'), 'utf8');
for (const [, name, params] of methods) {
  const types = params.split(',').map((p) => p.trim().split(/\s+/).slice(-2, -1)[0]).join(', ');
  const re = new RegExp(`public void ${name}\\(${params.split(',').map((p) => `(final )?${p.trim().split(/\s+/).slice(-2, -1)[0]} \\w+`).join(', ')}\\)`);
  if (!re.test(androidModule)) throw new Error(`LibStatusModule.java does not implement ${name}(${types})`);
}

// The iOS module implements every selector of the generated protocol.
const objcHeader = fs.readFileSync(path.join(out, libraryName, `${libraryName}.h`), 'utf8');
const protocol = objcHeader.slice(objcHeader.indexOf('@protocol NativeLibStatusSpec'));
const selectors = [...protocol.slice(0, protocol.indexOf('@end')).matchAll(/^- \(void\)([^;]+);/gm)]
  .map((m) => m[1].replace(/\([^)]*\)\w+/g, '').replace(/\s+/g, ''));
if (selectors.length !== 8) throw new Error(`expected 8 selectors in the protocol, found ${selectors.length}`);
const iosModule = fs.readFileSync(path.join(pkg, 'ios/RNLibStatus.mm'), 'utf8');
// Methods are RCT_EXPORT_METHOD(selector...) (both architectures) or plain
// - (void)selector... definitions.
const implemented = [...iosModule.matchAll(/^(?:- \(void\)|RCT_EXPORT_METHOD\()([^{]+)\{?/gm)]
  .map((m) => m[1].replace(/\([^)]*\)\w+/g, '').replace(/\s+/g, '').replace(/\)$/, ''));
for (const selector of selectors) {
  if (!implemented.includes(selector)) throw new Error(`ios/RNLibStatus.mm does not implement -${selector}`);
}

console.log(`codegen: ${expected.length} files in ${out}; Android and iOS modules implement all ${methods.length} methods`);
