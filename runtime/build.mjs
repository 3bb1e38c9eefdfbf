// Bundles src/index.ts five ways: script tag (global WebDNN), ES module, minified script tag, an ES
// module for bundlers that target browsers (the package's "browser" condition: the Node-only
// modules replaced by a stub, so no `node:` import reaches Vite or webpack), and CommonJS for
// require(). Node built-ins are imported dynamically at run time only, so they stay external.
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

// In the browser build every `node:` module is this stub; the runtime only imports them where
// isNode() holds, so a browser never evaluates it.
const noNode = {
  name: 'no-node',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'no-node' }));
    build.onLoad({ filter: /.*/, namespace: 'no-node' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`webdnn-runtime: ${args.path} is not available in the browser build`)});`,
      loader: 'js',
    }));
  },
};

await Promise.all([
  esbuild.build({ ...common, format: 'iife', globalName: 'WebDNN', outfile: 'dist/webdnn.js' }),
  esbuild.build({ ...common, format: 'esm', outfile: 'dist/webdnn.mjs' }),
  esbuild.build({ ...common, format: 'iife', globalName: 'WebDNN', minify: true, outfile: 'dist/webdnn.min.js' }),
  esbuild.build({ ...common, external: [], plugins: [noNode], format: 'esm', platform: 'browser',
                  outfile: 'dist/webdnn.browser.mjs' }),
  esbuild.build({ ...common, format: 'cjs', platform: 'node', outfile: 'dist/webdnn.cjs' }),
]);
