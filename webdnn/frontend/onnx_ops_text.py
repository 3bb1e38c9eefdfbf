"""ONNX text ops composed from existing IR ops: TfIdfVectorizer."""
from __future__ import annotations

import numpy as np

from ..ir.ops.elementwise import call, chain, inp
from .onnx_registry import handler


def _pool_ngrams(c, pool, counts, lo, hi):
    """{n: {ngram tuple: pool entry id}} for the n-gram sizes in [lo, hi]. Pool entries are numbered
    across all sizes (ids of sizes outside the range are skipped, not reused); a repeated n-gram keeps
    the id of its last occurrence."""
    grams, entry = {}, 0
    for i, start in enumerate(counts):
        n = i + 1
        end = counts[i + 1] if i + 1 < len(counts) else len(pool)
        if not 0 <= start <= end <= len(pool):
            c.fail(f"ngram_counts {counts} does not index into a pool of {len(pool)} items")
        k = (end - start) // n
        if lo <= n <= hi and k:
            table = grams.setdefault(n, {})
            for j in range(k):
                table[tuple(pool[start + j * n:start + (j + 1) * n])] = entry + j
        entry += k
    return grams


@handler("TfIdfVectorizer", since=9)
def _tfidf(c):
    """Count pool n-grams in each row with static slices: for size n and skip d, position p matches
    entry g when x[p + k*d] == g[k] for all k < n. The matches (B, positions, K) are summed over
    positions and mapped onto output columns by a constant 0/1 matrix (ngram_indexes)."""
    x = c.input(0)
    if c.attr("pool_strings") is not None:
        c.fail("string pools (pool_strings) are not supported; only integer inputs with pool_int64s")
    if x.dtype.startswith("float") or x.dtype == "bool":
        c.fail(f"input dtype {x.dtype} is not supported (int32 or int64)")
    if len(x.shape) not in (1, 2):
        c.fail(f"input must have shape [C] or [N, C], got {list(x.shape)}")
    mode = c.attr("mode")
    if mode not in ("TF", "IDF", "TFIDF"):
        c.fail(f"mode {mode!r} must be TF, IDF or TFIDF")
    lo, hi = int(c.attr("min_gram_length")), int(c.attr("max_gram_length"))
    skips = int(c.attr("max_skip_count"))
    counts = [int(v) for v in c.attr("ngram_counts")]
    indexes = [int(v) for v in c.attr("ngram_indexes")]
    pool = [int(v) for v in (c.attr("pool_int64s") or [])]
    weights = c.attr("weights")
    if not indexes or min(indexes) < 0:
        c.fail(f"ngram_indexes {indexes} must be non-empty and non-negative")
    out = max(indexes) + 1
    if weights is not None and len(weights) and len(weights) < out:
        c.fail(f"weights has {len(weights)} values but the output has {out} columns")

    batch, width = (1, x.shape[0]) if len(x.shape) == 1 else x.shape
    x3 = c.op1("Reshape", [x], {"shape": [batch, width, 1]})
    terms = []
    for n, table in sorted(_pool_ngrams(c, pool, counts, lo, hi).items()):
        keys, ids = list(table), list(table.values())
        if max(ids) >= len(indexes):
            c.fail(f"pool has more n-grams than ngram_indexes ({len(indexes)})")
        g = np.array(keys, dtype=np.int64).reshape(len(keys), n)
        # unigrams are counted once; longer n-grams once per skip distance 1 .. max_skip_count+1
        dists = [1] if n == 1 and lo == 1 else range(1, skips + 2)
        hits = []
        for d in dists:
            span = width - (n - 1) * d  # start positions with the whole n-gram inside the row
            if span <= 0:
                continue
            ins = [c.op1("Slice", [x3], {"starts": [k * d], "ends": [k * d + span], "axes": [1], "steps": None})
                   for k in range(n)]
            ins += [c.constant(g[:, k].astype(x.dtype)) for k in range(n)]
            match = call("eq", inp(0), inp(n))
            for k in range(1, n):
                match = call("and", match, call("eq", inp(k), inp(n + k)))
            hits.append(c.ew(call("cast", "float32", match), ins))
        if not hits:
            continue
        hit = hits[0] if len(hits) == 1 else c.op1("Concat", hits, {"axis": 1})
        freq = c.op1("Reduce", [hit], {"kind": "sum", "axes": [1], "keepdims": 0})
        to_out = np.zeros((len(ids), out), dtype=np.float32)
        to_out[np.arange(len(ids)), [indexes[i] for i in ids]] = 1
        terms.append(c.op1("MatMul", [freq, c.constant(to_out)]))

    if not terms:  # nothing can match (empty input, or no pool n-gram of a counted size)
        y = c.constant(np.zeros((batch, out), dtype=np.float32))
    else:
        y = terms[0] if len(terms) == 1 else c.ew(chain("add", len(terms)), terms)
    w = np.asarray(weights if weights is not None else [], dtype=np.float32)[:out]
    if mode == "IDF":
        expr = call("where", call("gt", inp(0), 0), inp(1) if w.size else 1, 0)
        y = c.ew(expr, [y, c.constant(w)] if w.size else [y])
    elif mode == "TFIDF" and w.size:
        y = c.ew(call("mul", inp(0), inp(1)), [y, c.constant(w)])
    if len(x.shape) == 1:
        y = c.op1("Reshape", [y], {"shape": [out]})
    return [y]
