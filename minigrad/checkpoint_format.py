"""The checkpoint format: what ``mg.save`` writes and how ``mg.load`` reads it back, in bounded
memory.

Two containers, told apart on load by the file's first bytes:

- ``.npz`` (the default): a zip of ``.npy`` files. Each array is stored under its own name
  (``numpy.load("m.npz")["weight_ih_l0"]`` works; nested names are joined with ``/``, as in
  ``"model/encoder.weight"``), beside one member ``__minigrad__``: a JSON text of the saved
  structure (the tree; see ``minigrad.io``) with each array replaced by its name.
- ``.safetensors``, through the ``safetensors`` package (``pip install -e '.[safetensors]'``):
  the same arrays and names, the JSON text in the file's metadata. A file from PyTorch or
  Hugging Face tools, without that metadata, loads as a flat dict of arrays.

Reading is bounded before anything is allocated: every array's declared size counts against
``max_bytes``, a stored member must hold the bytes it declares, and a compressed member is
inflated in small chunks that stop as soon as it passes its declared size. NumPy has no reader
with such bounds, so the ``.npy`` members are read here; a safetensors file's header is read
here only to count its sizes against ``max_bytes``, and the package then checks the offsets
and reads the data itself.
"""
import io
import json
import math
import zipfile

import numpy as np

from ._version import __version__

FORMAT = "minigrad-checkpoint"
# 1: arrays under "a0", "a1", ... ; 2: arrays under their own names, whole modules (as
# constructor arguments), the minigrad version in the header; 3: whole modules as what they
# hold, no constructor called. Files of versions 1 and 2 load unchanged (the tree names its
# arrays), but for a whole module of version 2, which is refused with what to do instead.
VERSION = 3
HEADER = "__minigrad__"
DEFAULT_MAX_BYTES = 4 * 2 ** 30
_CHUNK = 1 << 20                         # bytes read or inflated at a time
_SAFETENSORS_MAX_HEADER = 100 * 2 ** 20  # the package's own limit on its JSON header
# The __minigrad__ JSON text (4 bytes a character in .npy): parsed into Python objects many
# times its size, so it gets a cap of its own, far above any real checkpoint's.
_HEADER_MAX_BYTES = 256 * 2 ** 20
# Where a non-seekable stream is read into memory first: the arrays plus this much of headers.
STREAM_SLACK = 64 * 2 ** 20

# safetensors dtype names -> bytes per element (to bound a file before the package reads it)
_ST_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2,
                "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
DTYPE_NAMES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"}


class CheckpointError(ValueError):
    """A file ``mg.load`` refuses: not a checkpoint, damaged, forged, over ``max_bytes``, or
    written by a newer minigrad."""


def size_text(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def safe_name(name):
    """A member name that is also a sensible file path inside a zip: parts of letters, digits,
    ``_ . -``, none of them ``.`` or ``..``, joined by ``/``."""
    if not name or len(name) > 200 or name == HEADER:
        return False
    for part in name.split("/"):
        if not part or part[0] in ".-" or not all(c.isascii() and (c.isalnum() or c in "_.-")
                                                  for c in part):
            return False
    return True


def write_npz(fp, arrays, header):
    # Stored, not compressed (a state_dict barely compresses), in 64-bit zip entries so any
    # size fits. Written member by member instead of np.savez(**arrays), whose own keyword
    # arguments ("file", "allow_pickle") would clash with array names.
    with zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, a in [(HEADER, np.array(header))] + list(arrays.items()):
            with z.open(key + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, a, allow_pickle=False)


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("mg.save / mg.load: .safetensors files need the safetensors package: "
                          "pip install -e '.[safetensors]' (or pip install safetensors)") from None
    return safetensors


def safetensors_bytes(arrays, header):
    st = _safetensors()
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise TypeError(f"mg.save: safetensors cannot hold array {k!r} of dtype {a.dtype}; "
                            "save to a .npz instead")
    try:
        return st.numpy.save(arrays, metadata={HEADER: header})
    except Exception as e:  # noqa: BLE001  (the package raises several kinds)
        raise TypeError(f"mg.save: the safetensors package refused the data: {e}") from None


def format_for(format, path):
    if format is None:
        return "safetensors" if path is not None and path.endswith(".safetensors") else "npz"
    if format not in ("npz", "safetensors"):
        raise ValueError(f"mg.save: format must be 'npz' or 'safetensors', got {format!r}")
    return format


class Reader:
    """What a load knows about its file: a name for messages, the cap and what is spent."""

    def __init__(self, name, max_bytes):
        self.name = name
        self.max_bytes = max_bytes
        self.used = 0

    def refuse(self, reason):
        return CheckpointError(f"mg.load: {self.name} is not a readable minigrad checkpoint "
                               f"({reason})")

    def take(self, key, shape, dtype_name, nbytes):
        if self.used + nbytes > self.max_bytes:
            before = f", after {size_text(self.used)} of other arrays," if self.used else ""
            raise self.refuse(
                f"array {key!r} declares shape {tuple(shape)} {dtype_name} = {size_text(nbytes)}, "
                f"which{before} passes max_bytes={self.max_bytes} ({size_text(self.max_bytes)}); "
                "pass a larger max_bytes= to mg.load if you trust this file")
        self.used += nbytes


def _read_npy_member(z, info, reader, file_size):
    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    with z.open(info) as m:
        try:
            version = np.lib.format.read_magic(m)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
            else:
                raise ValueError(f".npy version {version}")
        except (ValueError, SyntaxError, EOFError) as e:
            raise reader.refuse(f"array {key!r} has no valid .npy header: {e}") from None
        if dtype.hasobject:
            raise reader.refuse(f"array {key!r} holds Python objects ({dtype}), which mg.load "
                                "never reads")
        if any(not isinstance(n, int) or n < 0 for n in shape) or dtype.itemsize == 0:
            raise reader.refuse(f"array {key!r} declares shape {shape} of {dtype}")
        nbytes = math.prod(shape) * dtype.itemsize
        reader.take(key, shape, dtype, nbytes)
        start = m.tell()
        if info.compress_type == zipfile.ZIP_STORED:
            # The zip's own record of the member must cover the data before anything is
            # allocated for it.
            holds = min(info.file_size, info.compress_size,
                        max(0, file_size - info.header_offset)) - start
            if holds < nbytes:
                raise reader.refuse(f"array {key!r} declares shape {tuple(shape)} {dtype} = "
                                    f"{nbytes} bytes, but the file holds {max(holds, 0)} bytes "
                                    "for it (truncated or forged)")
            buf = np.empty(nbytes, np.uint8)
            view, pos = memoryview(buf), 0
            while pos < nbytes:
                got = m.readinto(view[pos:pos + _CHUNK])
                if not got:
                    raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but the file "
                                        f"ends after {pos} (truncated)")
                pos += got
        else:
            # Inflated chunk by chunk and stopped as soon as it passes the declared size, so a
            # small compressed file cannot grow into a large allocation (a zip bomb).
            data = bytearray()
            while True:
                chunk = m.read(_CHUNK)
                if not chunk:
                    break
                data += chunk
                if len(data) > nbytes:
                    raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but its "
                                        f"compressed data inflates past {len(data)} bytes")
            if len(data) < nbytes:
                raise reader.refuse(f"array {key!r} declares {nbytes} bytes, but its "
                                    f"compressed data inflates to only {len(data)}")
            buf = np.frombuffer(data, np.uint8)
    array = buf.view(dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def tree_arrays(node, out):
    """The names of the arrays a tree refers to."""
    if isinstance(node, dict):
        if "__array__" in node:
            out.add(node["__array__"])
        for v in node.values():
            tree_arrays(v, out)
    elif isinstance(node, list):
        for v in node:
            tree_arrays(v, out)
    return out


def check_header(header, reader):
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else header
        raise reader.refuse(f"its header names format {found!r}")
    version = header.get("version", 0)
    if not isinstance(version, int):
        raise reader.refuse(f"its header names version {version!r}")
    if version > VERSION:
        by = header.get("minigrad")
        by = f"minigrad {by}" if isinstance(by, str) else "a newer minigrad"
        raise reader.refuse(f"it was written by {by} in checkpoint format version {version}; "
                            f"this minigrad {__version__} reads versions up to {VERSION}:"
                            " upgrade minigrad to read it")
    if "tree" not in header:
        raise reader.refuse("its header has no tree")


def read_npz(fp, reader, file_size):
    try:
        z = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise reader.refuse(f"it starts like a zip file but is damaged or cut short: {e}") \
            from None
    with z:
        members = {i.filename: i for i in z.infolist()}
        if HEADER + ".npy" not in members:
            if any(n.endswith("data.pkl") for n in members):
                raise reader.refuse("it is a PyTorch torch.save file, which mg.load does not "
                                    "read; in PyTorch, save the state_dict with "
                                    "safetensors.torch.save_file and load that")
            raise reader.refuse(f"it has no {HEADER} header; a plain numpy.savez file is read "
                                "with numpy.load")
        # The header is counted apart from the arrays, which max_bytes bounds.
        header_array = _read_npy_member(
            z, members[HEADER + ".npy"],
            Reader(reader.name, min(reader.max_bytes, _HEADER_MAX_BYTES)), file_size)
        try:
            header = json.loads(str(header_array[()]))
        except (ValueError, IndexError, RecursionError) as e:
            raise reader.refuse(f"its header is not valid JSON: {e}") from None
        check_header(header, reader)
        arrays = {}
        for key in sorted(tree_arrays(header["tree"], set()), key=str):
            info = members.get(f"{key}.npy") if isinstance(key, str) else None
            if info is None:
                raise reader.refuse(f"its header names an array {key!r} that is not in the file")
            arrays[key] = _read_npy_member(z, info, reader, file_size)
    return header["tree"], arrays


def read_safetensors(fp, reader, file_size, path):
    length = int.from_bytes(fp.read(8), "little")
    if length > file_size - 8 or length > _SAFETENSORS_MAX_HEADER:
        raise reader.refuse(f"its safetensors header claims {length} bytes, but the file has "
                            f"{max(file_size - 8, 0)} after the length field")
    try:
        header = json.loads(fp.read(length))
        specs = {k: v for k, v in header.items() if k != "__metadata__"}
        for key, spec in specs.items():
            shape, dtype = spec["shape"], spec["dtype"]
            if dtype not in _ST_ITEMSIZE or not all(isinstance(n, int) and n >= 0
                                                    for n in shape):
                raise ValueError(f"tensor {key!r} has dtype {dtype!r} and shape {shape!r}")
            reader.take(key, shape, dtype, math.prod(shape) * _ST_ITEMSIZE[dtype])
        metadata = header.get("__metadata__") or {}
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise reader.refuse(f"its safetensors header is damaged: {e}") from None
    if file_size - 8 - length > reader.used:
        # The package wants the data to be the tensors exactly; refused before it is read.
        raise reader.refuse(f"it holds {file_size - 8 - length} bytes of data where its "
                            f"tensors declare {reader.used}")
    # Within the cap: now the package itself checks the offsets and reads the data.
    st = _safetensors()
    try:
        if path is not None:
            with st.safe_open(path, framework="numpy") as s:
                arrays = {k: s.get_tensor(k) for k in specs}
        else:
            fp.seek(-(8 + length), io.SEEK_CUR)
            arrays = st.numpy.load(fp.read(file_size))
    except st.SafetensorError as e:
        raise reader.refuse(f"the safetensors package refused it: {e}") from None
    except (ValueError, TypeError, OSError) as e:
        raise reader.refuse(f"the safetensors package could not read it: {e}") from None
    if HEADER not in metadata:
        return {"__dict__": [[k, {"__array__": k}] for k in specs]}, arrays
    try:
        mg_header = json.loads(metadata[HEADER])
    except (ValueError, TypeError, RecursionError) as e:
        raise reader.refuse(f"its minigrad metadata is not valid JSON: {e}") from None
    check_header(mg_header, reader)
    missing = [k for k in tree_arrays(mg_header["tree"], set()) if k not in arrays]
    if missing:
        raise reader.refuse(f"its header names an array {missing[0]!r} that is not in the file")
    return mg_header["tree"], arrays


def describe(head):
    if not head:
        return "it is empty"
    if head[:1] == b"\x80":
        return ("it looks like a Python pickle (what torch.save writes), which mg.load never "
                "reads; in PyTorch, save the state_dict with safetensors.torch.save_file")
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, to be read with numpy.load"
    return (f"it starts with {head[:8]!r}, where a minigrad .npz (a zip) or .safetensors file "
            "starts differently")


def read(fp, reader, path):
    """(tree, {name: array}) from the checkpoint at ``fp``'s position, whichever container it
    is; ``path``, where there is one, lets the safetensors package map the file."""
    start = fp.tell()
    file_size = fp.seek(0, io.SEEK_END) - start
    fp.seek(start)
    head = fp.read(16)
    fp.seek(start)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return read_npz(fp, reader, file_size)
    if len(head) >= 9 and head[8:9] == b"{":
        return read_safetensors(fp, reader, file_size, path)
    raise reader.refuse(describe(head))
