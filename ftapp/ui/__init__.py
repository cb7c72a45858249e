"""The ftapp web app (Gradio). `build_demo()` returns the Blocks; `python app.py` launches it."""


def build_demo(*args, **kwargs):
    from ftapp.ui.app import build_demo as _build

    return _build(*args, **kwargs)


__all__ = ["build_demo"]
