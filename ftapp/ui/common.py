"""Small helpers shared by the tabs: the error guard and update shortcuts."""
from __future__ import annotations

import functools
import logging

import gradio as gr

from ftapp.ui.core import UserError

log = logging.getLogger("ftapp.ui")

UNEXPECTED = ("Something unexpected went wrong in the app ({}). Please try again; if it keeps happening, "
              "reload the page.")


def user_message(exc: BaseException) -> str | None:
    """The message of an error that is meant for the user (ours or the engine's), else None."""
    if isinstance(exc, UserError):
        return str(exc)
    names = {"ModelError", "ExportError", "RunFailed", "ImageError"}
    if type(exc).__name__ in names and type(exc).__module__.startswith("ftapp"):
        return str(exc)
    return None


def guarded(n_outputs: int = 0, *, api: bool = False, on_error=None):
    """Catch every failure of a handler: show a plain message (gr.Warning in the UI, gr.Error for
    API clients) and leave the outputs unchanged. Never shows a traceback."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001
                msg = user_message(exc)
                if msg is None:
                    log.exception("handler %s failed", fn.__name__)
                    msg = UNEXPECTED.format(type(exc).__name__)
                if api:
                    raise gr.Error(msg, print_exception=False) from None
                gr.Warning(msg)
                if on_error is not None:
                    return on_error(msg)
                return skips(n_outputs)
        return wrapper

    return deco


def skips(n: int):
    if n == 0:
        return None
    if n == 1:
        return gr.skip()
    return tuple(gr.skip() for _ in range(n))


def choose(value, choices: list, default=None):
    """Keep `value` when it is still among `choices` (values of (label, value) pairs)."""
    values = [c[1] if isinstance(c, (tuple, list)) else c for c in choices]
    if value in values:
        return value
    return default if default in values else (values[0] if values else None)
