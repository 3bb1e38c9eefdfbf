// WebDNN.Math: small helpers for reading model outputs.

/** Indices of the k largest values, largest first (ties: lower index first; NaN values are ignored). */
export function argmax(arr: ArrayLike<number>, k = 1): number[] {
  return topK(arr, k, true);
}

/** Indices of the k smallest values, smallest first (ties: lower index first; NaN values are ignored). */
export function argmin(arr: ArrayLike<number>, k = 1): number[] {
  return topK(arr, k, false);
}

function topK(arr: ArrayLike<number>, k: number, largest: boolean): number[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
  const n = arr.length;
  k = Math.min(k, n);
  if (k === 0) return [];
  // `better(a, b)`: value a ranks strictly before value b
  const better = largest ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  if (k === 1) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      if (v !== v) continue;
      if (best < 0 || better(v, arr[best])) best = i;
    }
    return best < 0 ? [] : [best];
  }
  // keep a sorted list of the best k seen so far (k is small in practice)
  const idx: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = arr[i];
    if (v !== v) continue;
    if (idx.length === k && !better(v, arr[idx[k - 1]])) continue;
    let pos = idx.length;
    while (pos > 0 && better(v, arr[idx[pos - 1]])) pos--;
    idx.splice(pos, 0, i);
    if (idx.length > k) idx.pop();
  }
  return idx;
}
