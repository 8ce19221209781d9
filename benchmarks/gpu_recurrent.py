"""The recurrent layers on the GPU: minigrad's fused LSTM and GRU (one op for the whole
sequence, fused gate kernels) against cuDNN (torch.nn.LSTM / nn.GRU on CUDA) and against a
per-step loop of minigrad's nn.LSTMCell (one autograd graph node per op per step).

One forward and backward of one layer, x (T, N, D) -> (T, N, H), float32, loss = sum of the
outputs. minigrad's and torch's layers start from the same weights and their outputs are
checked equal first (atol 1e-4). Runs are interleaved and synchronised; the script prints the
median time per call and the ratios minigrad / cuDNN and loop / fused.

    g1: T=50, N=64, D=H=256      g2: T=100, N=128, D=H=512      s1: T=8, N=4, D=H=16
    python benchmarks/gpu_recurrent.py --device cuda --configs g1 g2
    python benchmarks/gpu_recurrent.py --device strict --configs s1 --repeats 2   (a dry run:
        the strict stand-in device on the CPU, torch on the CPU; the figures mean nothing)
"""
import os
import sys

for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):     # before NumPy loads (see README)
    os.environ.pop(_var, None)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (sets the BLAS threads before numpy loads)

CONFIGS = {"g1": (50, 64, 256, 256), "g2": (100, 128, 512, 512), "s1": (8, 4, 16, 16)}


def add_arguments(p):
    p.add_argument("--device", default="cuda", choices=["cuda", "strict"])
    p.add_argument("--configs", nargs="+", default=["g1", "g2"], choices=list(CONFIGS))
    p.add_argument("--no-torch", action="store_true")


args = common.parse_args(__doc__.split("\n")[0], add_arguments)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

torch = None if args.no_torch else common.import_torch(args.threads)
DEV = args.device
TORCH_DEV = "cuda" if DEV == "cuda" else "cpu"
if DEV == "cuda" and not mg.cuda.is_available():
    sys.exit("gpu_recurrent.py: no usable GPU (mg.cuda.is_available() is False); "
             "--device strict runs it dry on the CPU")
if torch is not None and TORCH_DEV == "cuda" and not torch.cuda.is_available():
    print("torch sees no CUDA device: its column is left out")
    torch = None


def sync():
    mg.cuda.synchronize()
    if torch is not None and TORCH_DEV == "cuda":
        torch.cuda.synchronize()


def blas_line():
    try:
        from threadpoolctl import threadpool_info
        return "; ".join(f"{i.get('internal_api')} {i.get('architecture', '')} "
                         f"({i.get('num_threads')} threads)" for i in threadpool_info())
    except ImportError:
        return "threadpoolctl not installed"


def torch_twin(layer, kind, D, H):
    t = getattr(torch.nn, kind)(D, H).to(TORCH_DEV)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(t, name).copy_(torch.from_numpy(getattr(layer, name).numpy(force=True)))
    return t


def case(kind, T, N, D, H):
    mg.manual_seed(0)
    layer = getattr(nn, kind)(D, H).to(DEV)
    x_host = np.random.default_rng(0).standard_normal((T, N, D)).astype(np.float32)
    x = mg.tensor(x_host, device=DEV, requires_grad=True)

    def fused():
        out, _ = layer(x)
        out.sum().backward()

    fns = {"minigrad": fused}
    if kind == "LSTM":
        cell = nn.LSTMCell(D, H).to(DEV)
        cell.load_state_dict({k.replace("_l0", ""): v for k, v in layer.state_dict().items()})

        def loop():
            h = c = mg.zeros(N, H, device=DEV)
            total = 0
            for t in range(T):
                h, c = cell(x[t], (h, c))
                total = total + h.sum()
            total.backward()
        fns["LSTMCell loop"] = loop
    if torch is not None:
        twin = torch_twin(layer, kind, D, H)
        xt = torch.from_numpy(x_host).to(TORCH_DEV).requires_grad_()
        with mg.no_grad():
            ours = layer(x)[0].numpy(force=True)
        np.testing.assert_allclose(twin(xt)[0].detach().cpu().numpy(), ours, atol=1e-4)

        def cudnn():
            out, _ = twin(xt)
            out.sum().backward()
        fns["torch"] = cudnn
    return common.time_interleaved(fns, args.repeats, args.warmup, sync=sync)


common.print_header(f"recurrent layers, forward + backward, on '{DEV}' "
                    f"(torch on {TORCH_DEV if torch is not None else '-'})", args)
print(f"BLAS: {blas_line()}")
if DEV == "cuda":
    import cupy
    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, "
          f"CuPy {cupy.__version__}")
print()
rows = []
for name in args.configs:
    T, N, D, H = CONFIGS[name]
    for kind in ("LSTM", "GRU"):
        t = case(kind, T, N, D, H)
        rows.append([f"{name} {kind} T={T} N={N} D={D} H={H}", common.fmt_time(t["minigrad"]),
                     common.fmt_time(t.get("torch")), common.ratio(t["minigrad"], t.get("torch")),
                     common.fmt_time(t.get("LSTMCell loop")),
                     common.ratio(t.get("LSTMCell loop"), t["minigrad"])])
common.print_table(["case", "minigrad", "torch", "minigrad/torch", "cell loop", "loop/fused"],
                   rows)
