"""Hostile checkpoint files, built small on disk: each claims far more than it holds, inflates
far past what it declares, is cut short, or names something other than a model to rebuild.

``HOSTILE`` lists (name, build, load keywords, the error ``mg.load`` must raise). Shared by
tests/test_io_hostile.py and benchmarks/hostile_checkpoints.py, with the fork that measures a
load's peak resident memory.
"""
import io
import json
import os
import zipfile

import numpy as np

import minigrad as mg

MiB = 2 ** 20


def peak_rss_growth_in_a_child(fn):
    """Run ``fn`` in a forked child; return (its peak resident memory growth in bytes, what
    it returned as text). The child's high-water mark starts afresh at the fork."""
    def hwm():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            before = hwm()
            text = fn()
            os.write(write, f"{hwm() - before} {text}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    os.waitpid(pid, 0)
    growth, text = out.split(" ", 1)
    return int(growth), text


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                                "shape": tuple(shape)})
    return buf.getvalue()


def _header_member(tree, version=3):
    buf = io.BytesIO()
    text = json.dumps({"format": "minigrad-checkpoint", "version": version, "tree": tree})
    np.lib.format.write_array(buf, np.array(text))
    return buf.getvalue()


def _state_tree(names):
    return {"__dict__": [[n, {"__array__": n}] for n in names]}


def _npz(path, tree, members=(), deflated=()):
    """A zip holding the minigrad header for ``tree`` and ``members`` (name -> bytes, stored);
    ``deflated`` (name -> iterable of byte chunks) are compressed while written, so a large
    inflated size never sits in memory here either."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__minigrad__.npy", _header_member(tree))
        for name, data in dict(members).items():
            z.writestr(name + ".npy", data)
        for name, chunks in dict(deflated).items():
            info = zipfile.ZipInfo(name + ".npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as m:
                for chunk in chunks:
                    m.write(chunk)
    return path


def huge_shape(folder):
    """1 KB that declares 10^10 float64 (74.5 GiB)."""
    return _npz(os.path.join(folder, "huge_shape.npz"), _state_tree(["w"]),
                {"w": _npy_header((10 ** 10,)) + bytes(64)})


def forged_size(folder):
    """Declares 2^24 float64 (128 MiB, under the cap) and holds 64 bytes of it."""
    return _npz(os.path.join(folder, "forged_size.npz"), _state_tree(["w"]),
                {"w": _npy_header((2 ** 24,)) + bytes(64)})


def zip_bomb(folder):
    """64 KB deflated that declares 16 float64 and inflates to 64 MiB."""
    zeros = bytes(MiB)
    return _npz(os.path.join(folder, "zip_bomb.npz"), _state_tree(["w"]),
                deflated={"w": [_npy_header((16,))] + [zeros] * 64})


def zip_bomb_declared(folder):
    """64 KB deflated that truly inflates to the 64 MiB it declares; loaded with a 16 MiB
    cap, as a user loading files from others would."""
    zeros = bytes(MiB)
    return _npz(os.path.join(folder, "zip_bomb_declared.npz"), _state_tree(["w"]),
                deflated={"w": [_npy_header((8 * MiB,))] + [zeros] * 64})


def _cut_in_half(path):
    """A real 1 MiB checkpoint saved at ``path`` (its format from the suffix), cut in half."""
    mg.save({"w": np.ones(MiB // 8)}, path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return path


def truncated(folder):
    return _cut_in_half(os.path.join(folder, "truncated.npz"))


def garbage(folder):
    path = os.path.join(folder, "garbage.npz")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(0).bytes(4096))
    return path


def _safetensors_file(path, header, data=b""):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
    return path


def st_offsets_past_end(folder):
    """A safetensors header whose tensor runs 3984 bytes past the end of the file."""
    return _safetensors_file(os.path.join(folder, "offsets.safetensors"),
                             {"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}},
                             bytes(16))


def st_huge_shape(folder):
    return _safetensors_file(os.path.join(folder, "huge.safetensors"),
                             {"w": {"dtype": "F64", "shape": [10 ** 10],
                                    "data_offsets": [0, 8 * 10 ** 10]}}, bytes(16))


def st_header_length(folder):
    """The first 8 bytes claim a 1 TiB header."""
    path = os.path.join(folder, "header_length.safetensors")
    with open(path, "wb") as f:
        f.write((2 ** 40).to_bytes(8, "little") + b'{"w": {}}')
    return path


def st_trailing_data(folder):
    """A 16-byte tensor followed by 8 MiB of data no tensor declares."""
    return _safetensors_file(os.path.join(folder, "trailing.safetensors"),
                             {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                             bytes(16 + 8 * MiB))


def st_truncated(folder):
    return _cut_in_half(os.path.join(folder, "truncated.safetensors"))


def _module_file(path, module, qualname, attributes=(), parameters=(), buffers=(),
                 node=None):
    """A whole module as mg.save writes it: ``parameters``/``buffers`` (name, npy bytes)."""
    tree = node or {"__module__": [module, qualname], "training": True,
                    "parameters": [[n, {"__tensor__": {"__array__": n}, "parameter": True}]
                                   for n, _ in parameters],
                    "buffers": [[n, {"__tensor__": {"__array__": n}}, True] for n, _ in buffers],
                    "modules": [], "attributes": [list(kv) for kv in attributes]}
    return _npz(path, tree, dict(list(parameters) + list(buffers)))


def _npy(array):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def module_not_imported(folder):
    return _module_file(os.path.join(folder, "not_imported.npz"), "evil_payload", "Net")


def module_os_system(folder):
    return _module_file(os.path.join(folder, "os_system.npz"), "os", "system",
                        [("command", "echo pwned")])


def module_not_a_module(folder):
    return _module_file(os.path.join(folder, "not_a_module.npz"), "collections", "OrderedDict")


def module_huge_state(folder):
    """nn.Linear(100000, 100000) (40 GB if built), its weight declared in a 1 KB file."""
    return _module_file(os.path.join(folder, "huge_module.npz"), "minigrad.nn.layers", "Linear",
                        [("in_features", 10 ** 5), ("out_features", 10 ** 5)],
                        [("weight", _npy_header((10 ** 5, 10 ** 5), "<f4") + bytes(64))])


def module_huge_buffer(folder):
    """PositionalEncoding(16, max_len=10**9) with its table, 59.6 GiB as declared."""
    return _module_file(os.path.join(folder, "huge_buffer.npz"), "minigrad.nn.transformer",
                        "PositionalEncoding", [("max_len", 10 ** 9)],
                        buffers=[("pe", _npy_header((10 ** 9, 16), "<f4") + bytes(64))])


def module_huge_arguments(folder):
    """nn.Linear(50000, 50000) (10 GB of float32 if its constructor ran) with a 1-element
    weight."""
    return _module_file(os.path.join(folder, "huge_arguments.npz"), "minigrad.nn.layers",
                        "Linear", [("in_features", 50000), ("out_features", 50000)],
                        [("weight", _npy(np.ones((1, 1), np.float32)))])


def module_huge_buffer_arguments(folder):
    """PositionalEncoding(16, max_len=10**9) without its table: the constructor would fill a
    7.45 GiB buffer, but no constructor runs."""
    return _module_file(os.path.join(folder, "huge_buffer_arguments.npz"),
                        "minigrad.nn.transformer", "PositionalEncoding",
                        [("d_model", 16), ("max_len", 10 ** 9)])


def module_hides_a_method(folder):
    """An nn.Linear whose attribute 'forward' would hide its method."""
    return _module_file(os.path.join(folder, "hides.npz"), "minigrad.nn.layers", "Linear",
                        [("forward", {"__function__": "relu"})])


def module_function_not_allowed(folder):
    """A Transformer layer whose activation names os.system."""
    return _module_file(os.path.join(folder, "function.npz"), "minigrad.nn.layers", "Linear",
                        [("activation", {"__function__": "system"})])


def module_cell_not_a_cell(folder):
    """An RNN whose cell names a class that is no cell."""
    return _module_file(os.path.join(folder, "cell.npz"), "minigrad.nn.recurrent", "RNN",
                        [("cell", {"__cell__": ["minigrad.tensor", "Tensor"], "attributes": []})])


def _linear_node(**fields):
    node = {"__module__": ["minigrad.nn.layers", "Linear"], "training": True,
            "parameters": [], "buffers": [], "modules": [], "attributes": []}
    node.update(fields)
    return node


def module_dunder_attribute(folder):
    """An nn.Linear whose attribute '__dict__' would go into its instance dictionary."""
    return _module_file(os.path.join(folder, "dunder.npz"), "", "",
                        node=_linear_node(attributes=[["__dict__", 1]]))


def module_parameter_not_a_tensor(folder):
    return _module_file(os.path.join(folder, "not_tensor.npz"), "", "",
                        node=_linear_node(parameters=[["weight", "echo pwned"]]))


def module_refers_ahead(folder):
    """A sub-module said to be the same as a module the file has not stored."""
    return _module_file(os.path.join(folder, "ahead.npz"), "", "",
                        node=_linear_node(modules=[["inner", {"__same_module__": 5}]]))


def module_inside_itself(folder):
    """A Linear whose sub-module is the Linear itself: a cycle no walk over modules ends."""
    return _module_file(os.path.join(folder, "cycle.npz"), "", "",
                        node=_linear_node(modules=[["inner", {"__same_module__": 0}]]))


def module_old_format(folder):
    """A whole module as minigrad wrote it in checkpoint format 2: constructor arguments."""
    return _module_file(os.path.join(folder, "old.npz"), "", "", node={
        "__module__": ["minigrad.nn.layers", "Linear"], "args": [2, 3], "kwargs": [],
        "state": [], "training": True})


def deep_nesting(folder):
    """A header nested 100000 lists deep."""
    text = '{"format": "minigrad-checkpoint", "version": 2, "tree": ' + \
        '{"__list__": [' * 100000 + "1" + "]}" * 100000 + "}"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(text))
    path = os.path.join(folder, "deep.npz")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__minigrad__.npy", buf.getvalue())
    return path


NOT_READABLE = "is not a readable minigrad checkpoint"
WHOLE = {"weights_only": False}
HOSTILE = [
    ("huge declared shape", huge_shape, {},
     r"array 'w' declares shape \(10000000000,\) float64 = 74.5 GiB, which passes "
     r"max_bytes=4294967296 \(4.0 GiB\)"),
    ("declared size not in the file", forged_size, {},
     r"array 'w' declares shape \(16777216,\) float64 = 134217728 bytes, but the file holds "
     r"64 bytes for it"),
    ("zip bomb (inflates past its declared size)", zip_bomb, {},
     r"array 'w' declares 128 bytes, but its compressed data inflates past 1048576 bytes"),
    ("zip bomb (declared, over max_bytes)", zip_bomb_declared, {"max_bytes": 16 * MiB},
     r"array 'w' declares shape \(8388608,\) float64 = 64.0 MiB, which passes "
     r"max_bytes=16777216"),
    ("truncated .npz", truncated, {}, NOT_READABLE),
    ("garbage bytes", garbage, {}, r"it starts with b'.*', where a minigrad \.npz"),
    ("safetensors offsets past the end", st_offsets_past_end, {},
     r"the safetensors package refused it"),
    ("safetensors huge declared shape", st_huge_shape, {},
     r"array 'w' declares shape \(10000000000,\) F64 = 74.5 GiB"),
    ("safetensors header length past the end", st_header_length, {},
     r"its safetensors header claims 1099511627776 bytes, but the file has 9"),
    ("safetensors data beyond its tensors", st_trailing_data, {},
     r"it holds 8388624 bytes of data where its tensors declare 16"),
    ("truncated .safetensors", st_truncated, {}, NOT_READABLE),
    ("module from a module not imported", module_not_imported, WHOLE,
     r"it holds evil_payload.Net, but module 'evil_payload' is not imported; mg.load never "
     r"imports"),
    ("module naming os.system", module_os_system, WHOLE,
     r"it names os.system, which is not an nn.Module subclass"),
    ("module naming a class that is not a Module", module_not_a_module, WHOLE,
     r"it names collections.OrderedDict, which is not an nn.Module subclass"),
    ("module with a huge declared state", module_huge_state, WHOLE,
     r"array 'weight' declares shape \(100000, 100000\) float32 = 37.3 GiB"),
    ("module with a huge declared buffer", module_huge_buffer, WHOLE,
     r"array 'pe' declares shape \(1000000000, 16\) float32 = 59.6 GiB"),
    ("module attribute hiding a method", module_hides_a_method, WHOLE,
     r"it gives Linear an attribute 'forward', which would hide the class's own forward"),
    ("module naming a function that is not minigrad's", module_function_not_allowed, WHOLE,
     r"it names a function 'system', which is not one of minigrad.functional's"),
    ("module naming a cell that is not a cell", module_cell_not_a_cell, WHOLE,
     r"it names minigrad.tensor.Tensor, which is not a recurrent cell \(nn.cells.Cell\) "
     r"subclass"),
    ("module attribute with a dunder name", module_dunder_attribute, WHOLE,
     r"it gives Linear an attribute named '__dict__'"),
    ("module parameter that is not a tensor", module_parameter_not_a_tensor, WHOLE,
     r"it gives Linear a parameter 'weight' that is a str"),
    ("module referring to a module not stored", module_refers_ahead, WHOLE,
     r"it refers to module 5 before it is stored"),
    ("module inside itself", module_inside_itself, WHOLE, r"it puts module 0 inside itself"),
    ("module in the old constructor-arguments format", module_old_format, WHOLE,
     r"it stores Linear as constructor arguments \(checkpoint format 2\), and mg.load no "
     r"longer calls constructors"),
    ("header nested 100000 deep", deep_nesting, {}, NOT_READABLE),
]

# Measured by peak resident memory, not tracemalloc, in case anything asks for the memory
# that the numbers in these files describe: nothing may, as no constructor runs. Each loads,
# as the module its file describes, with a number where the constructor would have built a
# table from it.
HOSTILE_RSS = [
    ("module whose numbers would ask for 10 GB", module_huge_arguments, WHOLE,
     r"loaded Linear in_features=50000"),
    ("module whose numbers would ask for a 7.45 GiB buffer", module_huge_buffer_arguments, WHOLE,
     r"loaded PositionalEncoding d_model=16 max_len=1000000000"),
]
