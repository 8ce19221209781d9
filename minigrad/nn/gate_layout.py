"""Where a fused recurrent op keeps the gate pre-activations A of a whole sequence.

A = X W_ih^T + b holds, for every step t, sample n and gate k, the H pre-activations of gate k.
A cell names how they lie in memory (``cell.layout``); step t's block is always ``A[t]``. The
time loop of ``recurrence.py`` asks the layout for A (the input projection) and, backward, for
dA as rows (T*N, G*H), the gates side by side, for dX, dW_ih, db and dW_hh: one product each.
Backward writes step t's dA_t over A[t] (``Recurrence``).

* ``Flat``: A (T, N, G*H), the gates side by side, gate k the columns k*H:(k+1)*H, as the
  weights' rows are. Step t's block is (N, G*H). The CuPy kernels index it so, and a one-gate
  cell (the RNN) has nothing to gain from another layout.
* ``GateMajor``: A (T, G, N, H): step t's block is (G, N, H), and gate k's (N, H) within it
  is one contiguous array. NumPy's element-wise calls take 1.4-2.5x less time on a contiguous
  (N, H) array than on the same values as a column slice of an (N, G*H) one (N = 32,
  H = 128), and a step is a dozen such calls per direction. Backward, the cell writes dA_t
  over A[t]'s memory as rows (N, G*H) (``grad_view``, after its last read of a), so that the
  products find dA as rows without a copy.

The products themselves run on the rows (T*N, G*H) in both, so the parameters keep torch's
layout (W_ih (G*H, D)).

Shapes: T time, N batch, D input, H hidden, G gates.
"""


# From this many rows per step (N) up, the input projection runs step by step: T*G products
# (N, D) x (D, H) in one stacked matmul (GateMajor.project). Measured at D = H = 128, one
# thread: as fast as one product over all steps from N = 4, 1.8-2.4x slower at N = 1.
STEP_BY_STEP = 4


class Flat:
    """A (T, N, G*H): gate k of step t is A[t][:, k*H:(k+1)*H]."""

    @staticmethod
    def shape(T, G, N, H):
        return (T, N, G * H)

    @staticmethod
    def project(xp, x, W_ih, b, G):
        """A = X W_ih^T + b: x (T, N, D), W_ih (G*H, D), b (G*H,) or None."""
        T, N, D = x.shape
        A = xp.matmul(x.reshape(T * N, D), W_ih.T).reshape(T, N, W_ih.shape[0])
        if b is not None:
            A += b
        return A

    @staticmethod
    def rows(dA):
        """dA as rows (T*N, G*H), gates side by side (a view here)."""
        return dA.reshape(-1, dA.shape[-1])


class GateMajor:
    """A (T, G, N, H): gate k of step t is A[t][k], contiguous."""

    @staticmethod
    def shape(T, G, N, H):
        return (T, G, N, H)

    @staticmethod
    def project(xp, x, W_ih, b, G):
        T, N, D = x.shape
        H = W_ih.shape[0] // G
        if N >= STEP_BY_STEP:
            # T*G products (N, D) x (D, H) in one stacked matmul write A gate-major as it is
            # made, as fast as one (T*N, D) x (D, G*H) product, where that product and a pass
            # to move the gates apart took up to 3x longer (c1: a fresh 2 MB array's pages).
            # W_ih's gates as (G, D, H), contiguous: BLAS reads transposed views more slowly.
            W_gates = xp.ascontiguousarray(W_ih.reshape(G, H, D).transpose(0, 2, 1))
            A = xp.matmul(x.reshape(T, 1, N, D), W_gates)
            if b is not None:
                A += b.reshape(G, 1, H)
            return A
        # a few rows per step make each product a matrix-vector one, up to 2.4x slower than
        # one product over all steps: that one, then a pass that moves the gates apart
        rows = xp.matmul(x.reshape(T * N, D), W_ih.T).reshape(T, N, G, H).transpose(0, 2, 1, 3)
        A = xp.empty((T, G, N, H), dtype=rows.dtype)
        if b is None:
            A[...] = rows
        else:
            xp.add(rows, b.reshape(G, 1, H), out=A)
        return A

    @staticmethod
    def grad_view(a):
        """Step t's block a (G, N, H), seen as the (N, G*H) rows it holds backward: the cell
        writes dA_t through this (G, N, H) view, once it has read the activations in a."""
        G, N, H = a.shape
        return a.reshape(N, G, H).transpose(1, 0, 2)

    @staticmethod
    def rows(dA):
        # backward wrote every step's block as rows (grad_view): a view, no copy (a fresh
        # (T*N, G*H) array and the pass that fills it cost as much as a GEMM of it at c1)
        T, G, N, H = dA.shape
        return dA.reshape(T * N, G * H)
