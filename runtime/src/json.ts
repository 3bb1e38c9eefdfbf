// JSON parsing that also accepts the NaN / Infinity / -Infinity tokens Python's json module writes
// by default; they become the strings "NaN", "Infinity", "-Infinity" (see `toNumber`).

import { WebDNNError } from './errors.js';

export function parseJSON(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const patched = quoteNonFiniteTokens(text);
    if (patched !== text) {
      try {
        return JSON.parse(patched);
      } catch {
        /* report the original error */
      }
    }
    throw new WebDNNError(`${what} is not valid JSON${where((e as Error).message)}`);
  }
}

/**
 * Where the parser stopped, never the text itself: the engine's message may quote the file's
 * start, and a file that is not JSON may be something that must not appear in an error.
 */
function where(message: string): string {
  if (/unexpected end/i.test(message)) return ' (it ends too early)';
  const at = /position (\d+)/.exec(message);
  return at ? ` (at character ${at[1]})` : '';
}

function quoteNonFiniteTokens(text: string): string {
  let out = '';
  let i = 0;
  let last = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      // skip a string literal
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    const tok = ['-Infinity', 'Infinity', 'NaN'].find((t) => text.startsWith(t, i));
    if (tok !== undefined) {
      out += text.slice(last, i) + `"${tok}"`;
      i += tok.length;
      last = i;
    } else {
      i++;
    }
  }
  return last === 0 ? text : out + text.slice(last);
}

/** A number from a descriptor field that may hold "NaN", "Infinity", "-Infinity", "inf" … or a boolean. */
export function toNumber(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'nan') return NaN;
    if (s === 'infinity' || s === 'inf' || s === '+inf' || s === '+infinity') return Infinity;
    if (s === '-infinity' || s === '-inf') return -Infinity;
    const n = Number(s);
    if (s !== '' && !Number.isNaN(n)) return n;
  }
  throw new WebDNNError(`${what}: expected a number, got ${JSON.stringify(v)}`);
}
