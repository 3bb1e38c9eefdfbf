"""The intermediate representation: Graph, Tensor, Op, dtypes and the op registry."""
from .dtype import DTYPES, np_dtype, dtype_of  # noqa: F401
from .graph import Graph, Tensor, Op  # noqa: F401
from .ops import OPS, get_op_def  # noqa: F401
