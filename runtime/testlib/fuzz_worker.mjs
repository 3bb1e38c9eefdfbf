// Runs fuzz cases for test/fuzz.test.mjs in a worker thread, so that a case that never ends can be
// stopped from outside (a synchronous loop would block a timer in the same thread).
import { parentPort } from 'node:worker_threads';
import * as WebDNN from '../dist/webdnn.mjs';

const bytesOf = (a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

parentPort.on('message', async ({ id, dir, inputs }) => {
  let reply;
  try {
    const runner = await WebDNN.load(dir);
    try {
      const out = await runner.run(inputs);
      reply = { ok: true, out: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { type: v.constructor.name, bytes: bytesOf(v) }])) };
    } finally {
      runner.dispose();
    }
  } catch (e) {
    reply = { ok: false, webdnn: e instanceof WebDNN.WebDNNError, name: e?.name, message: String(e?.message ?? e), stack: String(e?.stack ?? '') };
  }
  parentPort.postMessage({ id, ...reply });
});
