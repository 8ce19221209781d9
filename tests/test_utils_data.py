"""minigrad.utils.data against torch's semantics: batch counts and contents over random sizes
and batch sizes, seeded shuffling, drop_last, collate_fn and default_collate's rules."""
import collections

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import minigrad as mg
from tests.helpers import grad_of
from minigrad.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                 RandomSampler, SequentialSampler, Subset, TensorDataset,
                                 default_collate, random_split)

sizes = st.integers(0, 23)
batch_sizes = st.integers(1, 9)


def _dataset(n):
    x = mg.tensor(np.arange(n * 2, dtype=np.float64).reshape(n, 2))
    y = mg.tensor(np.arange(n, dtype=np.int64))
    return TensorDataset(x, y)


@settings(max_examples=40, deadline=None)
@given(n=sizes, batch_size=batch_sizes, drop_last=st.booleans())
@example(n=0, batch_size=1, drop_last=False)
@example(n=10, batch_size=5, drop_last=True)           # an exact fit: no short batch to drop
@example(n=11, batch_size=5, drop_last=True)
def test_batches_cover_the_dataset_in_order(n, batch_size, drop_last):
    loader = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    expected = n // batch_size if drop_last else -(-n // batch_size)
    assert len(batches) == len(loader) == expected
    seen = []
    for i, (xb, yb) in enumerate(batches):
        k = batch_size if (drop_last or i < len(batches) - 1) else n - batch_size * i
        assert xb.shape == (k, 2) and yb.shape == (k,) and yb.dtype == np.int64
        np.testing.assert_array_equal(xb.numpy(force=True)[:, 0], 2 * yb.numpy(force=True))
        seen += yb.numpy(force=True).tolist()
    assert seen == list(range(len(seen)))
    assert len(seen) == (n - n % batch_size if drop_last else n)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 23), batch_size=batch_sizes, seed=st.integers(0, 2 ** 31))
def test_shuffle_is_a_seeded_permutation_new_each_epoch(n, batch_size, seed):
    def order(loader):
        return [i for _, yb in loader for i in yb.numpy(force=True).tolist()]
    data = _dataset(n)
    a = DataLoader(data, batch_size=batch_size, shuffle=True,
                   generator=mg.Generator().manual_seed(seed))
    b = DataLoader(data, batch_size=batch_size, shuffle=True,
                   generator=mg.Generator().manual_seed(seed))
    first, second = order(a), order(a)
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert first == order(b) and second == order(b)          # the same seed, the same epochs
    mg.manual_seed(seed)
    c1 = order(DataLoader(data, batch_size=batch_size, shuffle=True))
    mg.manual_seed(seed)
    c2 = order(DataLoader(data, batch_size=batch_size, shuffle=True))
    assert c1 == c2                                          # mg.manual_seed decides without one


def test_shuffle_actually_shuffles():
    orders = {tuple(int(i) for _, yb in DataLoader(_dataset(8), batch_size=3, shuffle=True,
                                                    generator=mg.Generator().manual_seed(s))
                    for i in yb.numpy(force=True)) for s in range(5)}
    assert len(orders) > 1


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 15), batch_size=batch_sizes)
def test_collate_fn_gets_the_list_of_items(n, batch_size):
    calls = []

    def collate(items):
        calls.append(len(items))
        return items
    out = list(DataLoader(list(range(n)), batch_size=batch_size, collate_fn=collate))
    assert sum(calls) == n and all(c == batch_size for c in calls[:-1])
    assert [i for b in out for i in b] == list(range(n))


def test_default_collate_follows_torchs_rules():
    # measured with torch 2.13's default_collate on the same inputs
    out = default_collate([(1, 2.0), (3, 4.0)])
    assert isinstance(out, list) and out[0].dtype == np.int64 and out[1].dtype == np.float64
    np.testing.assert_array_equal(out[0].numpy(force=True), [1, 3])
    d = default_collate([{"a": mg.ones(2), "b": 1}] * 3)
    assert d["a"].shape == (3, 2) and d["b"].numpy(force=True).tolist() == [1, 1, 1]
    assert default_collate([True, False]).dtype == np.bool_
    np.testing.assert_array_equal(default_collate([1.5, 2]).numpy(force=True), [1.5, 2.0])
    assert default_collate(["x", "y"]) == ["x", "y"]
    assert default_collate([np.ones(2), np.zeros(2)]).dtype == np.float64
    assert default_collate([np.float32(1), np.float32(2)]).dtype == np.float32
    lists = default_collate([[1, 2], [3, 4]])
    assert isinstance(lists, list) and lists[0].numpy(force=True).tolist() == [1, 3]
    Point = collections.namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.numpy(force=True).tolist() == [1, 3]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object()])


def test_gradients_flow_through_a_collated_batch():
    w = mg.tensor(np.ones(2), requires_grad=True)
    items = [w * 1.0, w * 2.0]
    default_collate(items).sum().backward()
    np.testing.assert_allclose(grad_of(w), [3, 3])


def test_unbatched_loader_and_custom_dataset():
    class Squares(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.array([i * i])
    items = list(DataLoader(Squares(), batch_size=None))
    assert [int(t.item()) for t in items] == [0, 1, 4, 9] and isinstance(items[0], mg.Tensor)
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    both = Squares() + Squares()
    assert isinstance(both, ConcatDataset) and len(both) == 8 and both[5][0] == 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="multiprocess workers"):
        DataLoader(_dataset(3), num_workers=1)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(_dataset(3), num_workers=-1)
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(mg.zeros(3), mg.zeros(4))
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_dataset(3), sampler=SequentialSampler(range(3)), shuffle=True)
    with pytest.raises(ValueError, match="positive integer"):
        BatchSampler(SequentialSampler(range(3)), 0, False)
    with pytest.raises(ValueError, match="add up to"):
        random_split(range(5), [2, 2])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 30), cut=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_random_split_is_a_disjoint_cover(n, cut, seed):
    a, b = random_split(range(n), [cut, 1 - cut], generator=mg.Generator().manual_seed(seed))
    assert isinstance(a, Subset) and len(a) + len(b) == n
    assert sorted(list(a) + list(b)) == list(range(n))
    k = int(n * 0.4)
    c, d = random_split(range(n), [k, n - k], generator=mg.Generator().manual_seed(seed))
    assert len(c) == k


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    r = RandomSampler(range(6), generator=mg.Generator().manual_seed(1))
    assert sorted(r) == list(range(6)) and len(r) == 6
    # num_samples past the length starts another permutation, as torch's does.
    r = RandomSampler(range(3), num_samples=7, generator=mg.Generator().manual_seed(1))
    drawn = list(r)
    assert len(r) == 7 and len(drawn) == 7 and sorted(drawn[:3]) == sorted(drawn[3:6]) == [0, 1, 2]
    assert list(BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, drop_last=True)) == 2


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 60), seed=st.integers(0, 1000))
@example(n=1, k=5, seed=0)
def test_random_sampler_with_replacement(n, k, seed):
    def draw():
        return list(RandomSampler(range(n), replacement=True, num_samples=k,
                                  generator=mg.Generator().manual_seed(seed)))
    drawn = draw()
    assert len(drawn) == k and all(isinstance(i, int) and 0 <= i < n for i in drawn)
    assert draw() == drawn                      # the generator decides
    assert len(RandomSampler(range(n), replacement=True, num_samples=k)) == k


def test_random_sampler_with_replacement_repeats_and_covers():
    g = mg.Generator().manual_seed(3)
    r = RandomSampler(range(4), replacement=True, num_samples=400, generator=g)
    first, second = list(r), list(r)
    assert first != second                     # a new draw each pass
    counts = np.bincount(first, minlength=4)
    assert counts.min() > 60 and counts.max() < 140          # uniform: 100 expected each
    # Without num_samples, one draw per item (with repeats: not a permutation, as torch).
    drawn = [list(RandomSampler(range(8), replacement=True,
                                generator=mg.Generator().manual_seed(s))) for s in range(20)]
    assert all(len(d) == 8 for d in drawn)
    assert any(sorted(d) != list(range(8)) for d in drawn)
    mg.manual_seed(5)
    a = list(RandomSampler(range(8), replacement=True))
    mg.manual_seed(5)
    assert list(RandomSampler(range(8), replacement=True)) == a   # mg.manual_seed without one
    loader = DataLoader(range(10), batch_size=4,
                        sampler=RandomSampler(range(10), replacement=True, num_samples=6,
                                              generator=mg.Generator().manual_seed(0)))
    assert [len(b) for b in loader] == [4, 2]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(replacement=1), TypeError, r"replacement should be a boolean value, but got "
                                     r"replacement=1"),
    (dict(num_samples=0), ValueError, r"num_samples should be a positive integer value, but "
                                      r"got num_samples=0"),
    (dict(num_samples=2.0), ValueError, r"num_samples=2.0"),
    (dict(data_source=range(0)), ValueError, r"num_samples=0"),
])
def test_random_sampler_refuses_what_torch_refuses(kwargs, error, match):
    kwargs = {"data_source": range(3), **kwargs}
    with pytest.raises(error, match=r"RandomSampler: .*" + match):
        RandomSampler(**kwargs)
