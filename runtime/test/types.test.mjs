// The type declarations as a TypeScript app meets them (strict mode): outputs typed without casts,
// backendOrder limited to the known backend names, load() sources and options.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const APP = `import * as WebDNN from 'webdnn-runtime';
async function main(bytes: Uint8Array): Promise<number> {
  const runner = await WebDNN.load('./output', { backendOrder: ['webgpu', 'wasm', 'js'], cache: true,
    fileCallback: (e: WebDNN.FileEvent) => console.log(e.file, e.bytes, e.fromCache) });
  const fromBytes = await WebDNN.load({ 'model.json': bytes }, { backendOrder: 'js', requestInit: { credentials: 'include' } });
  const { y } = await runner.run<Float32Array>({ x: new Float32Array(4) });
  const first: number = y[0];
  const probs: Float32Array = runner.getOutputViews()[0].toActual<Float32Array>();
  const any: WebDNN.TypedArray = (await fromBytes.run()).y;
  // @ts-expect-error: not a backend name
  await WebDNN.load('./output', { backendOrder: ['wsm'] });
  // @ts-expect-error: a Float32Array is not an Int32Array
  const wrong: Int32Array = (await runner.run<Float32Array>()).y;
  await WebDNN.clearCache();
  return first + probs[0] + any.length + wrong.length + WebDNN.Math.argmax(probs)[0];
}
export { main };
`;

test('the declarations type-check an app in strict mode, and refuse what they should', () => {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'webdnn-ts-'));
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(root, path.join(app, 'node_modules', 'webdnn-runtime'), 'dir');
  fs.writeFileSync(path.join(app, 'app.ts'), APP);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'ES2020', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2020', 'DOM'] },
    files: ['app.ts'],
  }));
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  } finally {
    fs.rmSync(app, { recursive: true, force: true });
  }
});
