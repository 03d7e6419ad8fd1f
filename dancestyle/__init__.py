"""dancestyle: tell which dance style a video shows.

    import dancestyle
    pipeline = dancestyle.load_model("lstm")
    label = pipeline.classify("clip.mp4").label

The heavy parts (torch, torchvision, PyAV) load on first use, so `dancestyle --help` stays quick.
"""

__version__ = "0.1.0"

_LAZY = {
    "classify": "pipeline",
    "load_model": "pipeline",
    "Prediction": "pipeline",
    "DanceStylePipeline": "pipeline",
    "available_models": "configs",
    "CLASSES": "configs",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'dancestyle' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
