"""Matrix products."""
import math

from ..tensor import Function
from .broadcast import unbroadcast


def _swap(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """``a @ b`` with NumPy's rules: 1-D operands are promoted to matrices and batch axes
    broadcast. d(a@b)/da = gy @ b^T, d(a@b)/db = a^T @ gy."""
    saves_output = False

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.inputs[0].array, self.inputs[1].array
        # View 1-D operands as (1, k) and (k, 1) matrices, and gy to match.
        A = a[None, :] if a.ndim == 1 else a
        B = b[:, None] if b.ndim == 1 else b
        G = gy
        if b.ndim == 1:                 # first the m axis, so that a 1-D @ 1-D scalar works too
            G = G[..., None]
        if a.ndim == 1:
            G = G[..., None, :]
        ga = unbroadcast(G @ _swap(B), A.shape).reshape(a.shape)
        if B.ndim == 2 and A.ndim > 2:
            # (N, T, k) @ (k, m): one (k, NT) @ (NT, m) product instead of N batched ones.
            rows = math.prod(A.shape[:-1])          # explicit: -1 is ambiguous for size 0
            gb = A.reshape(rows, A.shape[-1]).T @ G.reshape(rows, G.shape[-1])
        else:
            gb = unbroadcast(_swap(A) @ G, B.shape)
        return ga, gb.reshape(b.shape)


def matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit "
                         f"(inner dimensions {ka} and {kb} differ)")
    return MatMul()(a, b)
