// The one Node built-in the runtime uses (loaded with a dynamic import, so browser bundles never touch it).
// Declared here so the build needs no @types/node.
declare module 'node:fs/promises' {
  export function readFile(path: string): Promise<Uint8Array>;
  export function stat(path: string): Promise<{ size: number; isFile(): boolean }>;
}
