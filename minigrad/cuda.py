"""``mg.cuda``: is a GPU really usable?"""
_available = None


def is_available():
    """True when CuPy imports, sees a GPU, and can run a kernel on it.

    Importing CuPy is not enough: a machine can have CuPy installed and no driver, or a
    driver and no device. The answer is cached after the first call.
    """
    global _available
    if _available is None:
        try:
            import cupy
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise RuntimeError("no CUDA device")
            x = cupy.arange(4, dtype=cupy.float32)
            _available = float((x * x).sum().get()) == 14.0
        except Exception:  # noqa: BLE001 - any failure means "not usable"
            _available = False
    return _available


def device_count():
    if not is_available():
        return 0
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


def synchronize():
    """Wait for the GPU to finish (for timing); a no-op without one."""
    if is_available():
        import cupy
        cupy.cuda.Device().synchronize()


def manual_seed(seed):
    """Seed minigrad's generators (one seed serves the CPU and the GPU, as ``mg.manual_seed``)."""
    from . import backend
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def set_device(device):
    """Make GPU ``device`` (an index, ``'cuda:1'`` or a device) the current one."""
    if not is_available():
        raise RuntimeError("cuda.set_device: no CUDA GPU is usable here (minigrad needs CuPy and "
                           "a GPU); leave the device on 'cpu'")
    index = getattr(device, "index", device)
    if isinstance(index, str):
        index = int(index.partition(":")[2] or 0)
    import cupy
    cupy.cuda.Device(int(index or 0)).use()
