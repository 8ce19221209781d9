"""``torch.onnx``, which programs import for an optional export: importable, and every use
raises an error saying what to do instead (minigrad writes no ONNX graphs)."""

_WAY = ("minigrad cannot export ONNX graphs: save the weights with "
        "mg.save(model.state_dict(), 'model.safetensors') and load them where you run the model")


def export(*args, **kwargs):
    raise NotImplementedError(f"onnx.export: {_WAY}")


export.__minigrad_left_out__ = _WAY


def __getattr__(name):
    raise AttributeError(f"minigrad has no onnx.{name}: {_WAY}")
