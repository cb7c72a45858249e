"""Small pieces shared by the tabs: the error guard, the shared page state, the run picker."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import gradio as gr

from ftapp.errors import UserFacingError
from ftapp.ui.core import AppContext
from ftapp.ui.texts import run_label

log = logging.getLogger("ftapp.ui")

UNEXPECTED = ("Something unexpected went wrong in the app ({}). Please try again; if it keeps happening, "
              "reload the page.")


def user_message(exc: BaseException) -> str | None:
    """The message of an error that is meant for the user (the app's or the engine's), else None."""
    return str(exc) if isinstance(exc, UserFacingError) else None


def guarded(*, api: bool = False, on_error=None):
    """Catch every failure of a handler: show a plain message (gr.Warning in the UI, gr.Error for
    API clients) and change nothing (or what `on_error(message)` returns). Never a traceback."""

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
                return on_error(msg) if on_error is not None else gr.skip()
        return wrapper

    return deco


@dataclass
class Shared:
    """What every tab may read: the app context, the page's cross-tab state, and what tabs offer
    each other by name ("tab.elem", as LLaMA-Factory's manager does), so no tab imports another."""
    ctx: AppContext
    owner: gr.BrowserState     # this browser's owner id (localStorage: a reload keeps it)
    run: gr.State              # the run the Train tab shows
    picked: gr.State           # the run last picked in Evaluate / Try it / Export (they follow each other)
    modality: gr.State         # "text" | "image" of the loaded data
    offered: dict = field(default_factory=dict)

    def who(self, browser_value, request: gr.Request | None) -> str:
        return self.ctx.owner(browser_value, getattr(request, "session_hash", None))

    def offer(self, tab: str, **things) -> None:
        """A tab offers components or functions to the others, e.g. offer("settings", form=…)."""
        self.offered.update({f"{tab}.{name}": thing for name, thing in things.items()})

    def __getitem__(self, address: str):
        """What another tab offered: shared["settings.form"] (read when wiring, after every tab is built)."""
        return self.offered[address]


def choose(value, choices: list, default=None):
    """Keep `value` when it is still among `choices` (values of (label, value) pairs)."""
    values = [c[1] if isinstance(c, (tuple, list)) else c for c in choices]
    if value in values:
        return value
    return default if default in values else (values[0] if values else None)


def run_picker(shared: Shared, tab: gr.Tab, dropdown: gr.Dropdown) -> None:
    """Opening the tab lists the finished runs with a model, keeping the one picked anywhere else."""

    @guarded()
    def refresh(browser_value, current, picked, request: gr.Request):
        choices = [(run_label(r.summary()), r.id) for r in shared.ctx.runs_with_model(shared.who(browser_value, request))]
        return gr.Dropdown(choices=choices, value=choose(picked, choices, default=choose(current, choices)))

    tab.select(refresh, inputs=[shared.owner, dropdown, shared.picked], outputs=[dropdown], api_visibility="private",
               show_progress="hidden")


def model_threshold(run) -> float:
    """The "not sure" threshold saved with the run's model (0: always answer)."""
    return float((run.files.model_meta() or {}).get("unsure_below") or 0.0)
