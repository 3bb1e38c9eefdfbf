// The npm package as an app meets it: what `npm pack` ships, and the entry points Node resolves
// (require, import, ./package.json) in an app that has it in node_modules.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeDescriptor } from '../testlib/descriptor.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('npm pack ships the builds, types, README and LICENSE, and nothing of the sources or tests', () => {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = info.files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/webdnn.mjs', 'dist/webdnn.cjs', 'dist/webdnn.browser.mjs',
    'dist/webdnn.js', 'dist/webdnn.min.js', 'dist/types/index.d.ts']) assert.ok(files.includes(f), `${f} missing from ${files}`);
  assert.ok(!files.some((f) => /^(src|test|testlib|bench|node_modules)\//.test(f)), files.join(' '));
  assert.equal(pkg.license, 'MIT');
  assert.match(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8'), /^MIT License/);
});

test('the README has no link that leaves the package', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const [, target] of readme.matchAll(/\]\(([^)]+)\)/g)) {
    assert.ok(/^(https?:|#)/.test(target) || fs.existsSync(path.join(root, target)), `broken link ${target}`);
  }
});

test('exports: types, browser, import and require conditions, and ./package.json', () => {
  const dot = pkg.exports['.'];
  assert.deepEqual(Object.keys(dot), ['types', 'browser', 'import', 'require']);  // types first, as TypeScript wants
  for (const f of Object.values(dot)) assert.ok(fs.existsSync(path.join(root, f)), f);
  assert.equal(pkg.exports['./package.json'], './package.json');
});

test('an app resolves the package with require() and import, and both run a descriptor', () => {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'webdnn-app-'));
  fs.mkdirSync(path.join(app, 'node_modules'));
  fs.symlinkSync(root, path.join(app, 'node_modules', 'webdnn-runtime'), 'dir');
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    kernels: [{ op: 'Elementwise', name: 'neg', inputs: ['x'], outputs: ['y'], attrs: { expr: ['neg', ['in', 0]], dtype: 'float32' } }],
  });
  const body = `.then(async (W) => { const r = await W.load(${JSON.stringify(dir)}); const { y } = await r.run({ x: [1, -2] });
    console.log(JSON.stringify([W.version, Array.from(y), typeof W.WebDNNError, typeof W.Math.argmax])); r.dispose(); })`;
  const cjs = `Promise.resolve(require('webdnn-runtime'))${body}; console.error(require('webdnn-runtime/package.json').name);`;
  const esm = `import('webdnn-runtime')${body};`;
  for (const [file, code] of [['app.cjs', cjs], ['app.mjs', esm]]) {
    fs.writeFileSync(path.join(app, file), code);
    const out = execFileSync(process.execPath, [file], { cwd: app, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [pkg.version, [-1, 2], 'function', 'function'], file);
  }
  fs.rmSync(app, { recursive: true, force: true });
});
