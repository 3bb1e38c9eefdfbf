// The code every wasm thread runs. It is started from its own source text (Function.toString),
// so it must not reference anything outside its body. Thread 0 owns the model: it instantiates the
// module, grows the memory to the planned size, copies the constants in, and runs the model for
// each 'run' message. Threads 1.. instantiate the same module on the same shared memory, move
// their stack pointer to their own stack and then serve the module's task pool forever.

/** How the worker talks to the page (or Node's parent thread). */
export interface WorkerPort {
  post(message: unknown, transfer?: Transferable[]): void;
  listen(handler: (message: any) => void): void;
}

export interface TensorSlot {
  offset: number;
  bytes: number;
}

export function wasmWorker(port: WorkerPort): void {
  let ex: any = null;
  let memory: WebAssembly.Memory | null = null;
  let base = 0;
  let inputs: TensorSlot[] = [];
  let outputs: TensorSlot[] = [];
  let bound = '';  // the sizes the arena is planned for (graphs with symbolic sizes)

  const fail = (id: number, e: unknown) =>
    port.post({ type: 'error', id, message: e && (e as Error).message ? (e as Error).message : String(e) });

  port.post({ type: 'hello' }); // the script runs: the page may send work
  port.listen(async (msg: any) => {
    if (msg.type === 'init') {
      try {
        const mem: WebAssembly.Memory = msg.memory ?? new WebAssembly.Memory({ initial: msg.pages.initial, maximum: msg.pages.maximum });
        memory = mem;
        const instance: WebAssembly.Instance = await WebAssembly.instantiate(msg.module as WebAssembly.Module, { env: { memory: mem } });
        ex = instance.exports;
        if (msg.tid === 0) {
          const end = ex.wd_init(msg.threads) >>> 0;
          const have = memory!.buffer.byteLength;
          if (end > have) memory!.grow(Math.ceil((end - have) / 65536));
          base = ex.wd_base_address() >>> 0;
          inputs = msg.inputs;
          outputs = msg.outputs;
          if (msg.constants) {
            // without shared memory the constants come as one image (a shared memory has them already)
            const image = new Uint8Array(msg.constants);
            new Uint8Array(memory!.buffer, base, image.byteLength).set(image);
          }
          ex.wd_prepare();
          port.post({ type: 'ready', id: msg.id, bytes: memory!.buffer.byteLength });
        } else {
          ex.wd_set_stack(ex.wd_stack_top(msg.tid));
          port.post({ type: 'ready', id: msg.id });
          ex.wd_worker(msg.tid); // serves the pool until the worker is terminated
        }
      } catch (e) {
        fail(msg.id, e);
      }
    } else if (msg.type === 'profile') {
      try {
        const ms: number[] = [];
        for (let i = 0; i < msg.steps; i++) {
          const t0 = performance.now();
          ex.wd_step(i);
          ms.push(performance.now() - t0);
        }
        port.post({ type: 'done', id: msg.id, ms });
      } catch (e) {
        fail(msg.id, e);
      }
    } else if (msg.type === 'run') {
      try {
        if (msg.sizes) {
          // symbolic sizes: plan the arena for these (wd_bind), grow the memory, find the inputs and outputs
          const key = msg.sizes.join(',');
          if (key !== bound) {
            new Int32Array(memory!.buffer, ex.wd_sizes_address() >>> 0, msg.sizes.length).set(msg.sizes);
            const end = ex.wd_bind() >>> 0;
            if (end === 0) {
              bound = '';
              throw new Error(`the input sizes ${msg.sizes.join(', ')} need more than the 2 GiB a wasm model may use`);
            }
            const have = memory!.buffer.byteLength;
            if (end > have) {
              try {
                memory!.grow(Math.ceil((end - have) / 65536));
              } catch (e) {
                bound = '';
                throw new Error(`these input sizes need ${Math.ceil(end / 2 ** 20)} MiB of wasm memory, more than the module may grow to (${(e as Error).message})`);
              }
            }
            bound = key;
          }
          inputs = msg.inputs.map((d: ArrayBuffer, i: number) => ({ offset: (ex.wd_io(i) >>> 0) - base, bytes: d.byteLength }));
          outputs = msg.outBytes.map((n: number, i: number) => ({ offset: (ex.wd_io(msg.inputs.length + i) >>> 0) - base, bytes: n }));
        }
        const buf = memory!.buffer;
        msg.inputs.forEach((data: ArrayBuffer, i: number) => {
          new Uint8Array(buf, base + inputs[i].offset, inputs[i].bytes).set(new Uint8Array(data));
        });
        const t0 = performance.now();
        ex.run();
        const ms = performance.now() - t0;
        const out = outputs.map((o) => {
          const copy = new Uint8Array(o.bytes);
          copy.set(new Uint8Array(memory!.buffer, base + o.offset, o.bytes));
          return copy.buffer;
        });
        port.post({ type: 'done', id: msg.id, outputs: out, inputs: msg.inputs, ms }, [...out, ...msg.inputs]);
      } catch (e) {
        fail(msg.id, e);
      }
    }
  });
}
