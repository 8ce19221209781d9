"""Undoing NumPy broadcasting in backward."""


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the inverse of broadcasting ``shape`` up to ``grad.shape``.

    A dimension that broadcasting added in front is summed away; a dimension of size 1 that
    broadcasting stretched is summed with keepdims.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
