// Bundles src/index.ts three ways: script tag (global WebDNN), ES module, minified script tag.
// Node built-ins are imported dynamically at run time only, so they stay external.
import * as esbuild from 'esbuild';

const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  target: 'es2020',
  platform: 'neutral',
  external: ['node:*'],
  legalComments: 'none',
  logLevel: 'warning',
};

await Promise.all([
  esbuild.build({ ...common, format: 'iife', globalName: 'WebDNN', outfile: 'dist/webdnn.js' }),
  esbuild.build({ ...common, format: 'esm', outfile: 'dist/webdnn.mjs' }),
  esbuild.build({ ...common, format: 'iife', globalName: 'WebDNN', minify: true, outfile: 'dist/webdnn.min.js' }),
]);
