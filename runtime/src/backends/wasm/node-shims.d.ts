// The Node built-ins the wasm backend uses (dynamic imports, never reached in browsers); declared
// here so the build needs no @types/node.
declare module 'node:os' {
  export function availableParallelism(): number;
  export function cpus(): unknown[];
}
declare module 'node:worker_threads' {
  export class Worker {
    constructor(source: string, options?: { eval?: boolean; name?: string });
    postMessage(message: unknown, transfer?: unknown[]): void;
    on(event: string, handler: (value: any) => void): void;
    ref(): void;
    unref(): void;
    terminate(): Promise<number>;
  }
}
