"""GraphBuilder: an ONNX graph in the making (onnx.helper), for the frontends that translate a
source format into ONNX and hand it to the ONNX frontend (Caffe, Chainer)."""
from __future__ import annotations

import numpy as np

OPSET = 17


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits = [], []
        self.inputs: list[tuple[str, tuple]] = []
        self._used: set[str] = set()
        self._n = 0
        self.scope = ""  # the name prefix of what is built now (the source layer's name)

    def fresh(self, base: str) -> str:
        self._n += 1
        name = f"{self.scope}/{base}:{self._n}" if self.scope else f"{base}:{self._n}"
        self._used.add(name)
        return name

    def const(self, array, base="c") -> str:
        from onnx import numpy_helper
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, attrs=None, base=None) -> str:
        return self.nodes_out(op, inputs, 1, attrs, base)[0]

    def nodes_out(self, op, inputs, n, attrs=None, base=None) -> list[str]:
        from onnx import helper
        outs = [self.fresh(base or op) for _ in range(n)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=outs[0], **(attrs or {})))
        return outs

    def rename(self, onnx_name: str, wanted: str) -> str:
        """`onnx_name` under the name `wanted` (an Identity) where that name is still free."""
        if wanted in self._used:
            return onnx_name
        from onnx import helper
        self.nodes.append(helper.make_node("Identity", [onnx_name], [wanted], name=f"{wanted}/name"))
        self._used.add(wanted)
        return wanted

    def add_input(self, name: str, shape) -> None:
        self.inputs.append((name, tuple(int(d) for d in shape)))
        self._used.add(name)

    def model(self, outputs: list[tuple[str, tuple]], name: str):
        """The ModelProto with these (onnx name, shape) float32 outputs."""
        from onnx import TensorProto, helper
        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in self.inputs]
        outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs]
        graph = helper.make_graph(self.nodes, name, ins, outs, initializer=self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="webdnn")
