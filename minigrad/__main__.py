"""``python -m minigrad``: what this installation is and where to start.

Prints minigrad's version, NumPy's version and the BLAS it calls, whether CuPy imports and a
GPU is usable, and where the lessons are with the first command to run.
"""
import os
import pathlib
import platform
import sys

import numpy as np

import minigrad as mg


def blas_description():
    """NumPy's BLAS as one line: from threadpoolctl when installed (what is loaded now, with
    its thread count), else from NumPy's build configuration."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            return "; ".join(f"{i.get('internal_api')} {i.get('version')} "
                             f"({i.get('num_threads')} threads)" for i in libs)
    try:
        config = np.show_config(mode="dicts")          # NumPy >= 1.26
    except TypeError:
        return "unknown (numpy.show_config() prints it)"
    blas = (config or {}).get("Build Dependencies", {}).get("blas", {})
    if not blas:
        return "unknown (numpy.show_config() prints it)"
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return (f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
            + (f" (threads limited to {threads} by the environment)" if threads else ""))


def gpu_description():
    """Whether CuPy imports, and whether a GPU really runs a kernel (``mg.cuda.is_available``)."""
    try:
        import cupy
    except ImportError:
        return ("CuPy is not installed: the CPU only (pip install -e '.[gpu]' for an NVIDIA GPU)")
    except Exception as e:  # noqa: BLE001 - a broken CUDA install can fail in many ways
        return f"CuPy is installed but does not import ({type(e).__name__}: {e})"
    if mg.cuda.is_available():
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        return (f"CuPy {cupy.__version__}, GPU usable: {mg.cuda.device_count()} device(s), "
                f"the first a {name}; run with --device cuda or MINIGRAD_DEVICE=cuda")
    return f"CuPy {cupy.__version__} imports, but no GPU is usable (no device or no driver)"


def lessons_location():
    """The lessons folder of the checkout this package was imported from, or None."""
    path = pathlib.Path(mg.__file__).resolve().parent.parent / "lessons"
    return path if (path / "01_tensors_autograd.py").exists() else None


def main(out=sys.stdout):
    lessons = lessons_location()
    lines = [
        f"minigrad {mg.__version__}  ({pathlib.Path(mg.__file__).resolve().parent})",
        f"Python   {platform.python_version()} on {platform.system()} {platform.machine()}",
        f"NumPy    {np.__version__}, BLAS: {blas_description()}",
        f"GPU      {gpu_description()}",
        f"device   {mg.backend.default_device()} is the default"
        + (f" (MINIGRAD_DEVICE={os.environ['MINIGRAD_DEVICE']})"
           if os.environ.get("MINIGRAD_DEVICE") else ""),
    ]
    if lessons is not None:
        root = lessons.parent
        lines += [f"lessons  {lessons}",
                  "",
                  "Start with the first lesson:",
                  f"    cd {root} && python lessons/01_tensors_autograd.py",
                  "(add --quick for a run of seconds; docs/api.md lists every public name)"]
    else:
        lines += ["lessons  not next to this installation: they are in lessons/ of a clone of",
                  "         the repository; start there with python lessons/01_tensors_autograd.py"]
    print("\n".join(lines), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
