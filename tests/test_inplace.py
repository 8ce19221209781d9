"""torch's storage semantics: ``t.array`` is the backend array, ``t.data`` a detached tensor
sharing it, ``t.grad`` a tensor; in-place ops modify the tensor itself, safely."""
import numpy as np
import pytest

import minigrad as mg
from tests.helpers import on_device


def test_data_is_a_detached_tensor_sharing_the_storage():
    p = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = p.data
    assert isinstance(d, mg.Tensor) and not d.requires_grad and d.creator is None
    assert d.array is p.array
    d.array[0] = 10.0                        # a write through .data is a write to p
    assert p.numpy().tolist() == [10.0, 2.0, 3.0]


def test_assigning_data_replaces_the_storage_and_keeps_the_identity():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    new = mg.tensor([[5.0, 6.0, 7.0]], dtype=mg.float64)
    p.data = new                             # shape and dtype may change, as in torch
    assert p.shape == (1, 3) and p.dtype == np.float64 and p.array is new.array
    p.data = on_device(np.zeros(2, np.float32))   # a backend array is accepted too
    assert p.shape == (2,) and p.requires_grad
