"""torch's names on minigrad: dim=/keepdim=, function forms, dtype names, mg.device, Tensor
methods, loss and activation modules, nn.Transformer. Values are checked against NumPy."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from tests.helpers import grad_of, leaf


def arr(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------- dim=

def test_dim_and_keepdim_are_synonyms_of_axis_and_keepdims():
    a = arr((2, 3, 4))
    x = mg.tensor(a)
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).numpy(force=True), a.sum(1, keepdims=True))
    np.testing.assert_allclose(mg.mean(x, dim=(0, 2)).numpy(force=True), a.mean((0, 2)))
    np.testing.assert_allclose(F.softmax(x, dim=1).numpy(force=True), F.softmax(x, axis=1).numpy(force=True))
    np.testing.assert_allclose(F.log_softmax(x, dim=0).numpy(force=True), F.log_softmax(x, 0).numpy(force=True))
    np.testing.assert_allclose(mg.softmax(x, dim=-1).numpy(force=True).sum(-1), np.ones((2, 3)), rtol=1e-6, atol=1e-6)
    assert mg.cat([x, x], dim=2).shape == (2, 3, 8)
    assert mg.stack([x, x], dim=1).shape == (2, 2, 3, 4)
    assert x.unsqueeze(dim=0).shape == (1, 2, 3, 4)
    assert x[:, :1].squeeze(dim=1).shape == (2, 4)
    assert x.argmax(dim=2, keepdim=True).shape == (2, 3, 1)
    assert x.size(dim=-1) == 4 and x.size() == (2, 3, 4)
    assert x.all(dim=0).shape == (3, 4)
    np.testing.assert_allclose(x.norm(dim=2).numpy(force=True), np.linalg.norm(a, axis=2))


@pytest.mark.parametrize("call, name", [
    (lambda x: x.sum(axis=0, dim=0), "sum"),
    (lambda x: F.softmax(x, axis=0, dim=0), "softmax"),
    (lambda x: mg.cat([x], axis=0, dim=0), "cat"),
    (lambda x: x.mean(keepdims=True, keepdim=True), "mean"),
    (lambda x: x.max(dim=0, axis=0), "max"),
])
def test_axis_and_dim_together_raise_naming_the_function(call, name):
    with pytest.raises(TypeError, match=rf"{name}\(\) got both .* pass one"):
        call(mg.zeros(2, 3))


# ----------------------------------------------------------------------------- max, min, arg*

def test_max_and_min_have_numpy_and_torch_forms():
    a = arr((3, 4))
    x = mg.tensor(a)
    np.testing.assert_allclose(x.max().numpy(force=True), a.max())
    np.testing.assert_allclose(x.max(axis=1).numpy(force=True), a.max(1))           # NumPy: a tensor
    values, indices = x.max(1)                                             # torch: a pair
    np.testing.assert_allclose(values.numpy(force=True), a.max(1))
    np.testing.assert_array_equal(indices.numpy(force=True), a.argmax(1))
    out = x.min(dim=0, keepdim=True)
    np.testing.assert_allclose(out.values.numpy(force=True), a.min(0, keepdims=True))
    np.testing.assert_array_equal(out.indices.numpy(force=True), a.argmin(0)[None])
    y = mg.tensor(arr((3, 4), 1))
    np.testing.assert_allclose(mg.max(x, y).numpy(force=True), np.maximum(a, y.numpy(force=True)))
    np.testing.assert_allclose(mg.min(x, y).numpy(force=True), np.minimum(a, y.numpy(force=True)))
    assert mg.argmax(x).item() == a.argmax() and mg.argmin(x).item() == a.argmin()
    assert x.argmax().dtype == mg.int64 and x.argmax().shape == ()
    with pytest.raises(TypeError, match=r"max\(dim=...\) takes one int axis"):
        x.max(dim=(0, 1))


def test_argmax_of_an_empty_axis_raises():
    with pytest.raises(ValueError, match="argmax: cannot reduce over an empty axis"):
        mg.zeros(2, 0).argmax(dim=1)


def test_topk_returns_values_and_indices_like_torch():
    x = mg.tensor([[1.0, 5.0, 3.0, 5.0], [0.0, -1.0, 2.0, 1.0]], requires_grad=True)
    v, i = x.topk(2)
    np.testing.assert_array_equal(v.numpy(force=True), [[5, 5], [2, 1]])
    np.testing.assert_array_equal(i.numpy(force=True), [[1, 3], [2, 3]])     # ties: lower index first
    v.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0, 1, 0, 1], [0, 0, 1, 1]])
    low = mg.topk(x, 1, dim=0, largest=False)
    np.testing.assert_array_equal(low.indices.numpy(force=True), [[1, 1, 1, 1]])
    top1 = x.topk(1)[1]                                        # greedy decoding's topk(1)
    assert top1.shape == (2, 1) and top1[0].item() == 1
    with pytest.raises(ValueError, match="topk: k=5 is out of range for a dimension of size 4"):
        x.topk(5)


# ----------------------------------------------------------------------------- function forms

FORMS = ["exp", "log", "tanh", "sqrt", "sigmoid", "relu", "matmul", "bmm", "tril", "triu",
         "clamp", "multinomial", "sin", "cos", "abs", "pow", "max", "min", "sum", "mean",
         "argmax", "topk", "cat", "stack", "zeros_like", "ones_like", "full", "arange",
         "where", "masked_fill", "softmax", "log_softmax", "transpose", "reshape", "gather",
         "index_select", "argmin", "squeeze", "unsqueeze", "flatten", "permute", "clone",
         "chunk", "split", "narrow", "norm", "eye", "empty", "is_tensor", "numel", "from_numpy"]


@pytest.mark.parametrize("name", FORMS)
def test_torch_function_forms_exist(name):
    assert callable(getattr(mg, name))


def test_function_forms_compute_what_the_methods_do():
    a = np.abs(arr((2, 3))) + 0.5
    x = mg.tensor(a)
    for name in ("exp", "log", "tanh", "sqrt", "sigmoid", "relu", "sin", "cos", "abs"):
        np.testing.assert_allclose(getattr(mg, name)(x).numpy(force=True), getattr(x, name)().numpy(force=True))
    np.testing.assert_allclose(mg.pow(x, 2).numpy(force=True), a ** 2)
    np.testing.assert_allclose(mg.matmul(x, x.t()).numpy(force=True), a @ a.T)
    b = mg.tensor(arr((4, 2, 3)))
    np.testing.assert_allclose(mg.bmm(b, b.transpose(1, 2)).numpy(force=True),
                               b.numpy(force=True) @ b.numpy(force=True).transpose(0, 2, 1))
    with pytest.raises(ValueError, match="bmm: expected"):
        mg.bmm(x, x.t())
    np.testing.assert_allclose(mg.tril(mg.ones(3, 3)).numpy(force=True), np.tril(np.ones((3, 3))))
    assert mg.is_tensor(x) and not mg.is_tensor(a) and mg.numel(x) == 6
    shared = mg.from_numpy(a)
    assert shared.array is a
    assert mg.transpose(x, 0, 1).shape == (3, 2) and mg.reshape(x, (3, 2)).shape == (3, 2)
    assert mg.eye(3).numpy(force=True).trace() == 3 and mg.empty(2, 3).shape == (2, 3)


def test_multinomial_is_seeded_and_draws_without_replacement_by_default():
    probs = mg.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    mg.manual_seed(3)
    a = mg.multinomial(probs, 3)
    mg.manual_seed(3)
    b = probs.multinomial(3) if hasattr(probs, "multinomial") else mg.multinomial(probs, 3)
    np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True))
    assert a.shape == (2, 3) and a.dtype == mg.int64
    assert 1 not in a.numpy(force=True)[0]                      # probability 0 is never drawn
    assert all(len(set(row)) == 3 for row in a.numpy(force=True).tolist())
    mg.manual_seed(0)
    draws = mg.multinomial(mg.tensor([0.2, 0.8]), 4000, replacement=True).numpy(force=True)
    assert abs(draws.mean() - 0.8) < 0.03
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(probs, 4)
    with pytest.raises(ValueError, match="non-negative"):
        mg.multinomial(mg.tensor([0.5, -0.1]), 1)


# ----------------------------------------------------------------------------- dtypes, device

def test_dtype_names_are_numpy_dtypes():
    pairs = {"float32": np.float32, "float": np.float32, "float64": np.float64,
             "double": np.float64, "float16": np.float16, "half": np.float16,
             "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
             "int16": np.int16, "short": np.int16, "int8": np.int8, "uint8": np.uint8,
             "bool": np.bool_, "complex64": np.complex64, "cdouble": np.complex128}
    for name, t in pairs.items():
        assert getattr(mg, name) == np.dtype(t), name
    assert mg.zeros(2, dtype=mg.long).dtype == np.int64
    with pytest.raises(AttributeError, match="minigrad has no dtype 'bfloat16'.*mg.float16"):
        mg.bfloat16     # noqa: B018
    assert mg.get_default_dtype() == mg.float32


def test_type_strings_and_conversions_are_torch_s():
    x = mg.tensor([1.5, -2.0])
    assert x.type() == "torch.FloatTensor"
    assert x.long().type() == "torch.LongTensor" and x.double().type() == "torch.DoubleTensor"
    assert x.type(mg.long).tolist() == [1, -2]
    assert x.type("torch.DoubleTensor").dtype == np.float64
    assert x.type(mg.IntTensor).dtype == np.int32 and x.type(np.float64).dtype == np.float64
    for method, dtype in [("float", np.float32), ("double", np.float64), ("half", np.float16),
                          ("long", np.int64), ("int", np.int32), ("bool", np.bool_)]:
        assert getattr(x, method)().dtype == dtype
    assert x.type_as(mg.tensor([1])).dtype == np.int64


def test_legacy_constructors():
    assert mg.LongTensor([1, 2]).dtype == np.int64
    assert mg.FloatTensor([[1, 2]]).dtype == np.float32
    assert mg.BoolTensor([True]).dtype == np.bool_
    assert mg.DoubleTensor(2, 3).shape == (2, 3) and mg.DoubleTensor(2, 3).dtype == np.float64
    assert mg.LongTensor(np.int64(3)).shape == (3,)


def test_device_objects_equal_the_strings():
    cpu = mg.device("cpu")
    assert cpu == "cpu" and "cpu" == cpu and cpu.type == "cpu" and repr(cpu) == "device(type='cpu')"
    cuda0 = mg.device("cuda:0")
    assert cuda0 == "cuda" and cuda0 == "cuda:0" and "cuda:0" == cuda0 and cuda0.index == 0
    assert cuda0 != "cpu" and mg.device("cuda", 1).index == 1
    assert {cpu: 1}["cpu"] == 1                         # hashes as its string
    x = mg.tensor([1.0], device=cpu)
    assert x.device == "cpu" and x.device == cpu and isinstance(x.device, mg.device)
    assert x.to(mg.device("cpu")) is x
    assert nn.Linear(2, 2).to(cpu).weight.device == "cpu"
    assert mg.zeros(2, device=cpu).device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.device("tpu")


# ----------------------------------------------------------------------------- Tensor methods

def test_view_and_shape_methods():
    a = arr((2, 3, 4))
    x = mg.tensor(a)
    assert x.view(-1, 4).shape == (6, 4) and x.view(6, 4).shape == (6, 4)
    assert x.view_as(mg.zeros(4, 6)).shape == (4, 6)
    assert x.reshape_as(mg.zeros(24)).shape == (24,)
    assert mg.zeros(3, 1).expand(-1, 5).shape == (3, 5)
    assert mg.zeros(3, 1).expand_as(mg.zeros(2, 3, 5)).shape == (2, 3, 5)
    assert x.contiguous() is x and x.dim() == 3 and x.nelement() == 24
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.flatten(1).shape == (2, 12)
    np.testing.assert_array_equal(x.narrow(2, 1, 2).numpy(force=True), a[:, :, 1:3])
    np.testing.assert_array_equal(x.narrow(0, -1, 1).numpy(force=True), a[-1:])
    assert [p.shape[1] for p in x.split([1, 2], dim=1)] == [1, 2]
    assert [p.shape[2] for p in x.chunk(3, 2)] == [2, 2]              # as torch: ceil(4/3)
    assert x[0].t().shape == (4, 3) and x[0, 0].t().shape == (4,)
    with pytest.raises(ValueError, match=r"t\(\): expects a tensor with <= 2 dimensions"):
        x.t()
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] add up to 2"):
        x.split([1, 1], dim=1)
    with pytest.raises(ValueError, match="narrow: start 3 and length 2 do not fit"):
        x.narrow(1, 3, 2)


def test_new_factories_take_the_tensor_s_dtype_and_device():
    x = mg.tensor([1, 2], dtype=mg.int32)
    for t in (x.new_zeros(2, 3), x.new_ones((2, 3)), x.new_empty(2, 3), x.new_full((2, 3), 7)):
        assert t.shape == (2, 3) and t.dtype == np.int32 and t.device == x.device
    assert x.new_full((1,), 7).item() == 7 and x.new_ones(1).item() == 1
    assert x.new_tensor([3.7]).tolist() == [3]
    assert x.new_zeros(2, dtype=mg.float64).dtype == np.float64


def test_comparisons_by_name_and_all_any():
    x, y = mg.tensor([1, 2, 3]), mg.tensor([3, 2, 1])
    assert x.eq(y).tolist() == [False, True, False] and x.ne(2).tolist() == [True, False, True]
    assert x.lt(y).tolist() == [True, False, False] and x.ge(2).tolist() == [False, True, True]
    assert x.le(y).tolist() == [True, True, False] and x.gt(y).tolist() == [False, False, True]
    assert x.gt(0).all().item() and not x.gt(2).all().item() and x.gt(2).any().item()
    assert x.equal(mg.tensor([1, 2, 3])) and not x.equal(y)


def test_gather_index_select_masked_fill_and_clone():
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    picked = x.gather(1, mg.tensor([[2, 2], [0, 1]]))
    np.testing.assert_array_equal(picked.numpy(force=True), [[3, 3], [4, 5]])
    picked.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0, 0, 2], [1, 1, 0]])
    np.testing.assert_array_equal(x.index_select(1, mg.tensor([2, 0])).numpy(force=True), [[3, 1], [6, 4]])
    mask = mg.tensor([[True, False, False], [False, False, True]])
    np.testing.assert_array_equal(x.masked_fill(mask, 0.0).numpy(force=True), [[0, 2, 3], [4, 5, 0]])
    with pytest.raises(ValueError, match=r"masked_fill: mask of shape \(3, 2\)"):
        x.masked_fill(mg.zeros(3, 2, dtype=mg.bool), 0.0)
    with pytest.raises(IndexError, match="gather: index out of range"):
        x.gather(1, mg.tensor([[3]]))
    c = x.clone()
    assert c.array is not x.array and c.requires_grad


def test_norm_matches_numpy():
    a = arr((3, 4))
    x = leaf(a)
    np.testing.assert_allclose(x.norm().item(), np.linalg.norm(a))
    np.testing.assert_allclose(x.norm(p=1, dim=0).numpy(force=True), np.abs(a).sum(0))
    np.testing.assert_allclose(mg.norm(x, float("inf")).item(), np.abs(a).max())
    assert mg.gradcheck(lambda x: x.norm(dim=1), [x])
    np.testing.assert_allclose(x.norm(p=3).item(), (np.abs(a) ** 3).sum() ** (1 / 3))
    with pytest.raises(ValueError, match="norm: p must be"):
        x.norm(p=0)


# ----------------------------------------------------------------------------- modules

def test_loss_modules_equal_their_functional_forms():
    logits = mg.tensor(arr((5, 4)), requires_grad=True)
    target = mg.tensor([0, 3, 1, 1, -100])
    ce = nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1)(logits, target)
    np.testing.assert_allclose(ce.item(), F.cross_entropy(logits, target, label_smoothing=0.1)
                               .item())
    nll = nn.NLLLoss()(nn.LogSoftmax(dim=1)(logits), target)
    np.testing.assert_allclose(nll.item(), F.cross_entropy(logits, target).item(), rtol=1e-6, atol=1e-6)
    assert nn.NLLLoss(reduction="none")(F.log_softmax(logits, dim=1), target).shape == (5,)
    y = mg.tensor(arr((5, 4), 1))
    np.testing.assert_allclose(nn.MSELoss()(logits, y).item(),
                               ((logits.numpy(force=True) - y.numpy(force=True)) ** 2).mean())
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(logits, y).item(),
                               np.abs(logits.numpy(force=True) - y.numpy(force=True)).sum())
    with pytest.raises(NotImplementedError, match="CrossEntropyLoss: per-class weight="):
        nn.CrossEntropyLoss(weight=mg.ones(4))
    with pytest.raises(ValueError, match="MSELoss: reduction must be"):
        nn.MSELoss(reduction="avg")


def test_cross_entropy_names_the_minigrad_way_for_torch_s_class_axis():
    logits, target = mg.zeros(2, 5, 3), mg.zeros(2, 3, dtype=mg.long)      # torch's (N, C, T)
    with pytest.raises(ValueError, match=r"classes on the last axis.*movedim\(1, -1\)"):
        nn.CrossEntropyLoss()(logits, target)
    assert nn.CrossEntropyLoss()(logits.movedim(1, -1), target).shape == ()


def test_activation_modules():
    a = arr((2, 3))
    x = mg.tensor(a)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(force=True), F.softmax(x, dim=1).numpy(force=True))
    np.testing.assert_allclose(nn.Softmax(dim=0)(x).numpy(force=True).sum(0), [1, 1, 1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=-1)(x).numpy(force=True), F.log_softmax(x).numpy(force=True))
    assert nn.Identity(5, foo=1)(x) is x
    assert nn.Flatten()(mg.zeros(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(mg.zeros(2, 3, 4)).shape == (6, 4)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(force=True), np.tanh(a), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F.relu(x).numpy(force=True), np.maximum(a, 0))
    np.testing.assert_allclose(F.tanh(x).numpy(force=True), np.tanh(a), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F.sigmoid(x).numpy(force=True), 1 / (1 + np.exp(-a)), rtol=1e-6, atol=1e-6)
    assert "dim=1" in repr(nn.LogSoftmax(dim=1))


def test_transformer_composes_the_stacks_with_torch_s_names():
    mg.manual_seed(0)
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                           dim_feedforward=16, dropout=0.0)
    keys = list(model.state_dict())
    assert keys[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "encoder.layers.1.linear2.bias" in keys and "encoder.norm.weight" in keys
    assert "decoder.layers.0.multihead_attn.out_proj.weight" in keys
    assert keys[-1] == "decoder.norm.bias"
    src, tgt = mg.randn(5, 3, 8), mg.randn(4, 3, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.shape == (4, 4) and np.isinf(mask.numpy(force=True)[0, 1]) and mask.numpy(force=True)[1, 0] == 0
    out = model(src, tgt, tgt_mask=mask)
    assert out.shape == (4, 3, 8)
    # The causal mask: changing the last target step leaves earlier outputs alone.
    tgt2 = mg.tensor(tgt.numpy(force=True).copy())
    tgt2.array[-1] += 1.0
    out2 = model(src, tgt2, tgt_mask=mask)
    np.testing.assert_allclose(out2.numpy(force=True)[:-1], out.numpy(force=True)[:-1], rtol=1e-5, atol=1e-6)
    bf = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                        dim_feedforward=16, batch_first=True)
    assert bf(mg.randn(3, 5, 8), mg.randn(3, 4, 8)).shape == (3, 4, 8)
    with pytest.raises(ValueError, match="Transformer: src .* different batch sizes"):
        model(mg.randn(5, 2, 8), tgt)


def test_flatten_parameters_is_a_no_op():
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        m = cls(3, 4)
        before = {k: v.numpy(force=True) for k, v in m.state_dict().items()}
        assert m.flatten_parameters() is None
        assert all(np.array_equal(before[k], v.numpy(force=True)) for k, v in m.state_dict().items())


def test_left_out_names_say_what_to_do_instead():
    with pytest.raises(AttributeError, match="minigrad has no 'jit': minigrad runs eagerly"):
        mg.jit      # noqa: B018
    with pytest.raises(AttributeError, match="dense tensors only"):
        mg.sparse_coo_tensor      # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        mg.nonsense      # noqa: B018
    with pytest.raises(NotImplementedError, match=r"pass the real lengths.*lengths=lengths"):
        nn.utils.rnn.pack_padded_sequence(mg.zeros(3, 2, 4), [3, 2])


def test_pad_sequence_pads_after_each_sequence_and_passes_gradients():
    a = mg.tensor([[1.0], [2.0]], requires_grad=True)
    b = mg.tensor([[3.0], [4.0], [5.0]], requires_grad=True)
    out = nn.utils.rnn.pad_sequence([a, b], padding_value=-1.0)
    assert out.shape == (3, 2, 1)
    np.testing.assert_array_equal(out.numpy(force=True)[:, :, 0], [[1, 3], [2, 4], [-1, 5]])
    assert nn.utils.rnn.pad_sequence([a, b], batch_first=True).shape == (2, 3, 1)
    (out * mg.tensor([[[1.0], [2.0]]])).sum().backward()
    np.testing.assert_array_equal(grad_of(a), [[1], [1]])
    np.testing.assert_array_equal(grad_of(b), [[2], [2], [2]])


def test_to_takes_torch_s_positional_forms_and_softmax_methods_take_dim():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.to(mg.long).dtype == np.int64 and x.to(np.float64).dtype == np.float64
    assert x.to("cpu", mg.float64).dtype == np.float64
    assert x.to(mg.device(x.device)) is x and x.to(mg.tensor([1])).dtype == np.int64
    assert x.to(copy=True) is not x
    np.testing.assert_allclose(x.softmax(dim=1).numpy(force=True), F.softmax(x, dim=1).numpy(force=True))
    np.testing.assert_allclose(x.log_softmax(0).numpy(force=True), F.log_softmax(x, axis=0).numpy(force=True))
    assert x.softmax(-1, dtype=mg.float64).dtype == np.float64
    x.to(mg.float64).sum().backward()
    assert grad_of(x).dtype == np.float32                     # the cast is differentiable


def test_like_factories_and_the_multinomial_method():
    x = mg.zeros(2, 3, dtype=mg.float64)
    assert mg.full_like(x, 7).numpy(force=True).tolist() == [[7.0] * 3] * 2
    assert mg.randn_like(x).dtype == np.float64 and mg.rand_like(x).shape == (2, 3)
    mg.manual_seed(1)
    assert mg.tensor([0.0, 1.0]).multinomial(1).tolist() == [1]


def test_gelu_in_functional_module_and_transformer_layer():
    x = mg.tensor([-1.0, 0.0, 2.0], dtype=mg.float64)
    np.testing.assert_allclose(F.gelu(x).numpy(force=True), [-0.15865525393145707, 0.0, 1.9544997361036416])
    np.testing.assert_allclose(nn.GELU(approximate="tanh")(x).numpy(force=True),
                               F.gelu(x, approximate="tanh").numpy(force=True))
    assert abs(F.gelu(x, approximate="tanh").numpy(force=True)[0] + 0.15880800939172324) < 1e-12
    with pytest.raises(ValueError, match="gelu: approximate must be"):
        F.gelu(x, approximate="fast")
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation="gelu")
    assert layer(mg.randn(3, 2, 4)).shape == (3, 2, 4)


def test_integer_and_bool_tensors_reduce_and_sort_without_wrapping():
    u = mg.tensor([3, 1, 2], dtype=mg.uint8)
    assert u.min().item() == 1 and u.max(dim=0).indices.item() == 0
    assert u.topk(2).indices.tolist() == [0, 2]
    assert u.sort(descending=True).values.tolist() == [3, 2, 1]
    b = mg.tensor([[True, False], [True, True]])
    assert b.min().item() is False and b.max(1).values.tolist() == [True, True]
    assert mg.tensor([2, 2, 1]).sort().indices.tolist() == [2, 0, 1]          # stable


def test_arithmetic_methods_and_function_forms():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.add(1, alpha=2).dtype == np.float32
    np.testing.assert_array_equal(x.add(x, alpha=-1).numpy(force=True), np.zeros((2, 2)))
    np.testing.assert_array_equal(x.sub(1).numpy(force=True), x.numpy(force=True) - 1)
    np.testing.assert_array_equal(x.mul(x).div(2).neg().numpy(force=True), -x.numpy(force=True) ** 2 / 2)
    np.testing.assert_array_equal(mg.add(x, x).numpy(force=True), 2 * x.numpy(force=True))
    np.testing.assert_array_equal(x.mm(x).numpy(force=True), x.numpy(force=True) @ x.numpy(force=True))
    with pytest.raises(ValueError, match="mm: expected two matrices"):
        x.mm(mg.ones(2))
    np.testing.assert_array_equal(F.one_hot(mg.tensor([0, 2, 1])).numpy(force=True), np.eye(3)[[0, 2, 1]])
    assert F.one_hot(mg.tensor([[1]]), num_classes=4).shape == (1, 1, 4)
    with pytest.raises(IndexError, match=r"one_hot: class values must be in \[0, 2\)"):
        F.one_hot(mg.tensor([2]), 2)


def test_grad_mode_switches_and_seeding_names():
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    mg.set_grad_enabled(False)
    try:
        assert (mg.ones(1, requires_grad=True) * 2).creator is None
    finally:
        mg.set_grad_enabled(True)
    with mg.inference_mode():
        assert not mg.is_grad_enabled()
    mg.backends.cudnn.deterministic = True          # accepted, as torch programs set it
    mg.cuda.manual_seed(5)
    a = mg.randn(3)
    mg.manual_seed(5)
    np.testing.assert_array_equal(a.numpy(force=True), mg.randn(3).numpy(force=True))


def test_module_apply_visits_children_first_and_named_children():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Tanh(), nn.Linear(3, 1)))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "Tanh", "Linear", "Sequential", "Sequential"]
    assert [name for name, _ in model.named_children()] == ["0", "1"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    model.apply(init_weights)
    assert all(not p.numpy(force=True).any() for n, p in model.named_parameters() if n.endswith("weight"))


def test_ops_that_do_not_read_their_input_allow_changing_it_before_backward():
    """gather, tril, clamp and cumsum keep what backward needs, so a later in-place change
    of their input is not an error (as in torch); sin reads its input, so it is."""
    for f in (lambda x: x.gather(0, mg.tensor([[1], [0]])), lambda x: x.tril(),
              lambda x: x.clamp(-1, 1), lambda x: x.cumsum(0)):
        x = mg.tensor([[0.5, 2.0], [-3.0, 0.1]], requires_grad=True)
        h = x * 1
        y = f(h)
        with mg.no_grad():
            h.add_(1)
        y.sum().backward()
        assert x.grad is not None
    x = mg.tensor([0.5], requires_grad=True)
    h = x * 1
    y = h.sin()
    with mg.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*Sin"):
        y.sum().backward()


def test_zero_grad_set_to_none_and_module_to_positional_dtype():
    model = nn.Linear(2, 1)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    model(mg.ones(1, 2)).sum().backward()
    g = model.weight.grad
    opt.zero_grad(set_to_none=False)
    assert model.weight.grad is g and not g.numpy(force=True).any()
    model.zero_grad(set_to_none=False)
    assert model.weight.grad is g
    opt.zero_grad()
    assert model.weight.grad is None
    assert model.to(mg.float64).weight.dtype == np.float64
    assert model.to("cpu", mg.float32).weight.dtype == np.float32
    assert model.to(mg.device("cpu")).weight.device == "cpu"


def test_one_element_tensors_format_and_index_like_numbers():
    loss = mg.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{mg.tensor([2.5]):.1f}" == "2.5"
    assert f"{mg.tensor([1, 2])}" == str(mg.tensor([1, 2]))
    names = ["a", "b", "c"]
    assert names[mg.tensor(2)] == "c" and names[mg.tensor([[1]])] == "b"
    with pytest.raises(TypeError, match="only one-element integer tensors can be used as an index"):
        names[mg.tensor(1.0)]


def test_probability_targets_name_the_minigrad_way():
    with pytest.raises(TypeError, match="no class-probability targets; label_smoothing="):
        nn.CrossEntropyLoss()(mg.zeros(2, 3), mg.ones(2, 3) / 3)
