"""The optimization pipeline: one flat, named list of passes, run in order."""
from __future__ import annotations

from ..ir import Graph
from . import (remove_identity, fold_constants, fold_pad, fold_batchnorm, lower_batchnorm, lower_gemm,
               split_pool3d, split_conv_transpose3d, fuse_elementwise, simplify_elementwise, widen_quantized,
               remove_dead)

PASSES = [
    ("remove_identity", remove_identity.run),
    ("fold_constants", fold_constants.run),
    ("fold_pad", fold_pad.run),
    ("fold_batchnorm", fold_batchnorm.run),
    ("lower_batchnorm", lower_batchnorm.run),
    ("lower_gemm", lower_gemm.run),
    ("split_pool3d", split_pool3d.run),
    ("split_conv_transpose3d", split_conv_transpose3d.run),
    ("fold_constants", fold_constants.run),
    ("fuse_elementwise", fuse_elementwise.run),
    ("simplify_elementwise", simplify_elementwise.run),
    ("widen_quantized", widen_quantized.run),
    ("fuse_elementwise", fuse_elementwise.run),  # chains the widening joined
    ("simplify_elementwise", simplify_elementwise.run),
    ("remove_identity", remove_identity.run),  # what the simplification left as its input unchanged
    ("remove_dead", remove_dead.run),
]


def optimize(graph: Graph, verify: bool = False, log=None) -> Graph:
    """Run every pass in order; with verify, check the IR after each one (tests do)."""
    graph.toposort()
    for name, fn in PASSES:
        changed = fn(graph)
        if log is not None:
            log(name, changed)
        if verify:
            graph.verify()
    return graph
