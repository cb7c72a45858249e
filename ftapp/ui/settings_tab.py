"""Step 2 — Model & settings: which pre-trained model, how much of it trains, how fast.

The form is built from the engine's settings schema (`ftapp.train.config.SETTINGS`): labels, help
texts, ranges and defaults come from there. Handlers take the form keyed by setting name
(`inputs_kwargs=tab.form`) and return `{component: update}`.
"""
from __future__ import annotations

import threading

import gradio as gr

from ftapp.hardware import cpu_cores, gpu_count
from ftapp.models import default_model, find_spec, models_for
from ftapp.models.catalog import looks_like_local_path
from ftapp.models.inspect import cached_freezing_options, freezing_options
from ftapp.train.config import AUTO_SEARCHED, METHODS, SEARCH_MIN_VAL, SETTINGS, TrainConfig, default_lr
from ftapp.ui import charts
from ftapp.ui.data_ops import run_task
from ftapp.ui.common import Shared, guarded
from ftapp.ui.core import UserError
from ftapp.ui.texts import fmt_lr, freezing_readout, log_from_lr, lr_from_log, lr_readout, md_escape

DEFAULTS = TrainConfig()
MODEL_OWN = "model"
DROPOUT_CHOICES = [("The model's own", MODEL_OWN), ("0.0 (none)", "0.0"), ("0.1", "0.1"), ("0.2", "0.2"),
                   ("0.3", "0.3"), ("0.5", "0.5")]
METHOD_LABELS = {METHODS.full: "Unfreeze whole blocks", METHODS.lora: "LoRA adapters (lighter)"}
LR_MIN, LR_MAX = (round(log_from_lr(SETTINGS["lr"].minimum)), round(log_from_lr(SETTINGS["lr"].maximum)))
NO_MODEL = "Choose a model to see its blocks."


class Latest:
    """Per session, which model request is the newest: a slow model load that finishes after the
    user already picked another model must not overwrite the newer choice."""

    def __init__(self, cap: int = 10_000):
        self._d: dict = {}
        self._lock = threading.Lock()
        self.cap = cap

    def bump(self, key) -> int:
        with self._lock:
            n = self._d.pop(key, 0) + 1
            self._d[key] = n
            while len(self._d) > self.cap:
                self._d.pop(next(iter(self._d)))
            return n

    def is_current(self, key, token: int) -> bool:
        with self._lock:
            return self._d.get(key) == token


LATEST = Latest()


def warm_bundled_models() -> None:
    """Read the bundled models' blocks in the background at app start, so step 2's readout is
    there the moment the first data is loaded (a cold model load takes seconds on a small CPU)."""
    from ftapp.models import BUNDLED_IMAGE, BUNDLED_TEXT

    for name, modality in ((BUNDLED_TEXT, "text"), (BUNDLED_IMAGE, "image")):
        try:
            freezing_options(name, modality)
        except Exception:  # noqa: BLE001 — only a head start: the tab loads it again on demand
            pass


def model_choices(modality: str | None) -> list[str]:
    return [s.name for s in models_for(modality)]


def model_description(name: str, hosted: bool) -> str:
    spec = find_spec(name or "")
    if spec is not None:
        where = "bundled with the app, works offline" if spec.offline else "downloads from the Hugging Face Hub"
        return f"{md_escape(spec.description)} *({where})*"
    if not name:
        return ""
    kind = "Hugging Face Hub id" if hosted else "Hugging Face Hub id or local folder"
    return f"Custom model: **{md_escape(name)}** ({kind}). It must be a transformers classification-ready model."


def _dropout_choice(value) -> str:
    if value is None:
        return MODEL_OWN
    text = f"{float(value):.1f}"
    return text if text in {c[1] for c in DROPOUT_CHOICES} else MODEL_OWN


ELEM_IDS = {"warmup_ratio": "warmup"}   # stable ids for automation (README); the rest: name with dashes


def _slider(name: str) -> gr.Slider:
    s = SETTINGS[name]
    return gr.Slider(label=s.label, info=s.help, minimum=s.minimum, maximum=s.maximum, step=s.step,
                     value=s.default, elem_id=ELEM_IDS.get(name, name.replace("_", "-")))


# Form value <-> TrainConfig value, per setting (unit conversions only, no training math).
TO_CONFIG = {
    "frozen_layers": lambda v: None if v is None else int(v),
    "lr": lambda v: None if v is None else lr_from_log(v),
    "dropout": lambda v: None if v in (None, "", MODEL_OWN) else float(v),
    "method": lambda v: v if v in METHOD_LABELS else None,
    "epochs": lambda v: int(v) if v else None,          # 0 on the slider: let ftapp plan the length
}
TO_FORM = {
    "lr": lambda v: min(LR_MAX, max(LR_MIN, log_from_lr(v))),
    "dropout": _dropout_choice,
    "epochs": lambda v: v or 0,
}


AUTO_FIELDS = AUTO_SEARCHED   # what Auto chooses when the user has not set it by hand
AUTO_NAMES = {name: SETTINGS[name].label.lower() for name in AUTO_FIELDS}


def auto_note(auto: bool, touched) -> str:
    if not auto:
        return "Auto is off: the run uses the settings below as they are."
    fixed = [AUTO_NAMES[n] for n in AUTO_FIELDS if n in (touched or [])]
    free = [AUTO_NAMES[n] for n in AUTO_FIELDS if n not in (touched or [])]
    text = ("**Auto** keeps the first model (frozen features + logistic regression) unless fine-tuning beats it on "
            f"data that did not choose it. With {SEARCH_MIN_VAL}+ validation examples it also chooses "
            + (", ".join(free) if free else "nothing more (you set everything it searches)"))
    if fixed:
        text += f"; it keeps what you set: {', '.join(fixed)}"
    return text + "."


def advanced_settings(hosted: bool) -> dict:
    """The "Advanced settings" accordion: regularisation, shares, seed, and how a run is spread over
    processes (on one's own CPU machine) or GPUs (when there are several)."""
    f = {}
    with gr.Accordion("Advanced settings", open=False, elem_id="advanced"):
        with gr.Row():
            for name in ("weight_decay", "warmup_ratio", "patience"):
                f[name] = _slider(name)
        with gr.Row():
            for name in ("val_fraction", "test_fraction"):
                f[name] = _slider(name)
            s = SETTINGS["seed"]
            f["seed"] = gr.Number(label=s.label, info=s.help, value=s.default, precision=0, elem_id="seed")
        with gr.Row():
            ld = SETTINGS["layer_decay"]
            f["layer_decay"] = gr.Slider(label=ld.label, info=ld.help, minimum=ld.minimum, maximum=ld.maximum,
                                         step=ld.step, value=ld.default, elem_id="layer-decay")
            d = SETTINGS["dropout"]
            f["dropout"] = gr.Dropdown(label=d.label, info=d.help, choices=DROPOUT_CHOICES,
                                       value=_dropout_choice(d.default), elem_id="dropout")
            cw = SETTINGS["class_weights"]
            f["class_weights"] = gr.Dropdown(label=cw.label, info=cw.help, choices=list(cw.choices),
                                             value=cw.default, elem_id="class-weights")
            for name in ("augment", "hflip"):
                st = SETTINGS[name]
                f[name] = gr.Checkbox(label=st.label, info=st.help, value=st.default, elem_id=name)
        with gr.Row():   # how the run is spread: CPU processes on one's own machine, GPUs when there are several
            gpus, cores = gpu_count(), cpu_cores()
            p, g = SETTINGS["processes"], SETTINGS["gpus"]
            f["processes"] = gr.Slider(label=p.label, info=p.help, minimum=p.minimum, maximum=max(2, cores),
                                       step=1, value=p.default, elem_id="processes",
                                       visible=not hosted and not gpus and cores > 1)
            f["gpus"] = gr.Slider(label=g.label, info=g.help, minimum=g.minimum, maximum=max(2, gpus), step=1,
                                  value=g.default, elem_id="gpus", visible=gpus > 1)
    return f


def collect(form: dict) -> dict:
    """Form values (keyed by setting name) → TrainConfig values; None lets TrainConfig (or Auto)
    decide. With Auto on, what Auto searches is sent only when the user set it by hand."""
    out = {"model": (form.get("model") or "").strip()}
    touched = form.get("touched") or []
    for name, value in form.items():
        if name in ("model", "touched"):
            continue
        convert = TO_CONFIG.get(name) or (lambda v, k=SETTINGS[name].kind: None if v is None else k(v))
        out[name] = convert(value)
    if out.get("auto"):
        for name in AUTO_FIELDS:
            if name not in touched:
                out[name] = None
    return out


def modality_of(model: str, data_modality: str | None) -> str | None:
    spec = find_spec(model or "")
    return data_modality or (spec.modality if spec else None)


class SettingsTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        ctx = shared.ctx
        custom = ("Hub id such as 'distilbert-base-uncased'" if ctx.hosted
                  else "Hub id such as 'distilbert-base-uncased', or a model folder on this computer")
        f = {}
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                self.model = gr.Dropdown(label="Pre-trained model", choices=model_choices(None), value=None,
                                         allow_custom_value=True, elem_id="model-select", filterable=True,
                                         info=f"The network you start from: it already knows general features "
                                              f"and only learns your classes. Pick one or type a {custom}.")
                self.model_info = gr.Markdown("Load data in step 1; the models that fit it are listed here.",
                                              elem_id="model-info")
                a = SETTINGS["auto"]
                with gr.Row(equal_height=True):
                    f["auto"] = gr.Checkbox(label=a.label, info=a.help, value=a.default, elem_id="auto", scale=3)
                    self.auto_reset = gr.Button("Let Auto choose again", size="sm", scale=1, min_width=120,
                                                elem_id="auto-reset")
                self.auto_note = gr.Markdown(auto_note(a.default, []), elem_id="auto-note", elem_classes=["readout"])
                m = SETTINGS["method"]
                f["method"] = gr.Radio(label=m.label, info=m.help, value=METHODS.full, elem_id="method",
                                       choices=[(METHOD_LABELS[c], c) for c in m.choices])
                fl = SETTINGS["frozen_layers"]
                f["frozen_layers"] = gr.Slider(label=fl.label, info=fl.help, minimum=0, maximum=6, step=1, value=0,
                                               elem_id="frozen-layers")
                self.frozen_readout = gr.Markdown(NO_MODEL, elem_id="frozen-readout", elem_classes=["readout"])
            with gr.Column(scale=1, min_width=320):
                lr = SETTINGS["lr"]
                f["lr"] = gr.Slider(label=f"{lr.label} (log scale: −4 means 10⁻⁴)", info=lr.help, minimum=LR_MIN,
                                    maximum=LR_MAX, step=0.01, value=log_from_lr(default_lr("text")),
                                    elem_id="learning-rate")
                with gr.Row():
                    self.lr_readout = gr.Markdown(lr_readout(log_from_lr(default_lr("text"))), elem_id="lr-readout",
                                                  elem_classes=["readout"])
                    self.suggest = gr.Button("Suggest a rate", size="sm", scale=0, min_width=150, elem_id="lr-suggest")
                self.lr_message = gr.Markdown("", elem_id="lr-message")
                self.lr_plot = gr.Plot(visible=False, show_label=False, elem_id="lr-plot")
                e = SETTINGS["epochs"]
                f["epochs"] = gr.Slider(label=f"{e.label} — 0: let ftapp plan", info=e.help, minimum=0,
                                        maximum=e.maximum, step=1, value=0, elem_id="epochs")
                cap = ctx.quotas.max_run_minutes
                if cap is None:
                    f["time_budget"] = _slider("time_budget")
                else:   # a shared device: every run is bounded (ftapp/ui/policy.py)
                    tb = SETTINGS["time_budget"]
                    f["time_budget"] = gr.Slider(label=tb.label, minimum=tb.minimum, maximum=cap, step=tb.step,
                                                 value=min(tb.default, cap), elem_id="time-budget",
                                                 info=f"{tb.help} On this server runs are limited to {cap:g} minutes.")
                b = SETTINGS["batch_size"]
                f["batch_size"] = gr.Dropdown(label=b.label, info=b.help, choices=list(b.suggested), value=b.default,
                                              elem_id="batch-size")
        f.update(advanced_settings(ctx.hosted))
        self.fields: dict[str, gr.components.Component] = f
        self.changed = gr.State(False)    # whether the last data load changed the modality
        self.touched = gr.State([])       # the settings Auto searches that the user set by hand
        # what handlers get as keyword arguments: the model, every setting of the form, what was set by hand
        self.form = {"model": self.model, **f, "touched": self.touched}
        shared.offer("settings", form=self.form, collect=collect, refill=self.refill,
                     refill_outputs=self.refill_outputs)
        threading.Thread(target=warm_bundled_models, name="ftapp-warm-models", daemon=True).start()

    # ---- form values <-> settings ------------------------------------------------------------
    def refill(self, settings: dict, info: dict | None = None, requested: dict | None = None) -> dict:
        """A run's effective settings → form updates and the frozen readout. `requested` (what the
        run was asked for) tells which of Auto's settings the user had fixed."""
        info = info or {}
        s = {**DEFAULTS.user_settings(), **(settings or {})}
        model = s.get("model") or None
        opts = cached_freezing_options(model, s.get("modality")) if model else None
        n_blocks = (opts or {}).get("n_blocks") or info.get("n_blocks")
        out = {self.model: gr.update(value=model)}
        for name, comp in self.fields.items():
            value = s.get(name)
            if value is None and name in ("lr", "frozen_layers", "method"):
                continue   # a run that never got that far: the form keeps its own value
            out[comp] = TO_FORM.get(name, lambda v: v)(value)
        if n_blocks:
            out[self.fields["frozen_layers"]] = gr.Slider(maximum=int(n_blocks), value=s.get("frozen_layers") or 0)
        if opts is None and n_blocks and info.get("total_params"):
            trainable = [None] * (int(n_blocks) + 1)
            if info.get("frozen_layers") is not None and info.get("trainable_params") is not None:
                trainable[int(info["frozen_layers"])] = info["trainable_params"]
            opts = {"n_blocks": n_blocks, "total_params": info["total_params"], "trainable_params": trainable}
        out[self.frozen_readout] = (freezing_readout(opts, s.get("frozen_layers") or 0, s.get("method") or METHODS.full)
                                    if opts else NO_MODEL)
        if s.get("lr"):
            out[self.lr_readout] = lr_readout(TO_FORM["lr"](s["lr"]))
        touched = [n for n in AUTO_FIELDS if (requested or {}).get(n) is not None]
        out[self.touched] = touched
        out[self.auto_note] = auto_note(bool(s.get("auto")), touched)
        return out

    @property
    def refill_outputs(self) -> list:
        return [self.model, *self.fields.values(), self.frozen_readout, self.lr_readout, self.touched, self.auto_note]

    # ---- handlers ------------------------------------------------------------------------------
    def load_freezing(self, model, data_modality, frozen, method, keep_value: bool, session: str | None) -> dict:
        """Slider range, value and readout for a model (loads it once; cached)."""
        ctx = self.shared.ctx
        token = LATEST.bump(session)
        model = (model or "").strip()
        slider = self.fields["frozen_layers"]
        if not model:
            return {self.frozen_readout: NO_MODEL, self.model_info: ""}
        spec = find_spec(model)
        if spec and data_modality and spec.modality != data_modality:
            raise UserError(f"'{model}' is a model for {spec.modality}s but your data is {data_modality}s. "
                            f"Pick a {data_modality} model.")
        if ctx.hosted and not spec and looks_like_local_path(model):
            raise UserError("On this hosted app only Hugging Face Hub ids work, e.g. 'distilbert-base-uncased'.")
        opts = freezing_options(model, modality_of(model, data_modality), allow_local_paths=not ctx.hosted)
        if not LATEST.is_current(session, token):
            return gr.skip()   # the user has picked another model meanwhile
        n = int(opts["n_blocks"])
        value = int(frozen) if keep_value and frozen is not None and 0 <= int(frozen) <= n else opts["default_frozen"]
        return {slider: gr.Slider(minimum=0, maximum=n, value=value),
                self.frozen_readout: freezing_readout(opts, value, method),
                self.model_info: self._describe(model, data_modality, session)}

    def _describe(self, model: str, data_modality: str | None, session: str | None) -> str:
        """The model's description, and a warning when its tokenizer fits the loaded texts poorly."""
        from ftapp.models.inspect import language_check

        text = model_description(model, self.shared.ctx.hosted)
        data = self.shared.ctx.session_data(session) or {}
        warning = language_check(model, modality_of(model, data_modality), data.get("sample_texts") or [])
        return text + (f"\n\n**Check the language:** {md_escape(warning)}" if warning else "")

    def _freeze_error(self, msg: str) -> dict:
        return {self.frozen_readout: f"**Problem:** {md_escape(msg)}"}

    def on_model(self, model, data_modality, frozen, method, request: gr.Request):
        return guarded(on_error=self._freeze_error)(self.load_freezing)(
            model, data_modality, frozen, method, False, request.session_hash)

    def on_open(self, model, data_modality, frozen, method, request: gr.Request):
        """Tab opened: make sure the readout knows the model (keeps the slider's value)."""
        opts = cached_freezing_options((model or "").strip(), modality_of(model, data_modality)) if model else None
        if opts is not None:
            LATEST.bump(request.session_hash)
            return {self.frozen_readout: freezing_readout(opts, frozen or 0, method),
                    self.model_info: self._describe(model, data_modality, request.session_hash)}
        return guarded(on_error=self._freeze_error)(self.load_freezing)(
            model, data_modality, frozen, method, True, request.session_hash)

    def on_frozen(self, model, data_modality, frozen, method):
        opts = cached_freezing_options((model or "").strip(), modality_of(model, data_modality)) if model else None
        return gr.skip() if opts is None else freezing_readout(opts, frozen or 0, method)

    @staticmethod
    def on_lr(x):
        try:
            return lr_readout(float(x))
        except (TypeError, ValueError):
            return gr.skip()

    @guarded()
    def on_suggest(self, request: gr.Request, **form):
        from ftapp.train.lr_find import suggest_lr

        ctx = self.shared.ctx
        data = ctx.session_data(request.session_hash)
        if not data or not data.get("ok"):
            raise UserError("Load usable data in step 1 first: the test trains briefly on it.")
        settings = collect(form)
        if not settings["model"]:
            raise UserError("Choose a model first.")
        cfg = TrainConfig.from_dict({**settings, "data": data["path"], "text_column": data.get("text_column"),
                                     "task": run_task(data), "label_column": data.get("label_column"),
                                     "path_column": data.get("path_column"), "lr": None})
        result = suggest_lr(cfg, limits=ctx.limits, allow_local_paths=not ctx.hosted)
        x = TO_FORM["lr"](float(result["lr"]))
        msg = md_escape(result.get("message") or f"Suggested learning rate: {fmt_lr(float(result['lr']))}.")
        touched = sorted(set(form.get("touched") or []) | {"lr"})   # asked for: Auto keeps it
        return {self.fields["lr"]: x, self.lr_readout: lr_readout(x), self.lr_message: msg,
                self.lr_plot: gr.Plot(value=charts.lr_figure(result), visible=True), self.touched: touched,
                self.auto_note: auto_note(bool(form.get("auto")), touched)}

    @guarded()
    def on_data(self, model, previous_modality, request: gr.Request):
        """Data loaded: the models that fit it, its default model and learning rate."""
        data = self.shared.ctx.session_data(request.session_hash) or {}
        modality = data.get("modality")
        out = {self.model: gr.Dropdown(choices=model_choices(modality)), self.shared.modality: modality}
        if modality and (modality != previous_modality or not model):
            model = default_model(modality)
            x = log_from_lr(default_lr(modality))
            opts = cached_freezing_options(model, modality)
            out.update({self.model: gr.Dropdown(choices=model_choices(modality), value=model),
                        self.model_info: model_description(model, self.shared.ctx.hosted),
                        self.frozen_readout: freezing_readout(opts, opts["default_frozen"]) if opts
                        else f"Reading the blocks of {md_escape(model)}…",
                        self.fields["lr"]: x, self.lr_readout: lr_readout(x),
                        self.fields["augment"]: gr.Checkbox(visible=modality != "text"),
                        self.fields["hflip"]: gr.Checkbox(visible=modality == "image")})
        out[self.changed] = modality != previous_modality
        return out

    def after_data(self, model, modality, frozen, method, changed, request: gr.Request):
        if not model:
            return gr.skip()
        fn = self.on_model if changed else self.on_open
        return fn(model, modality, frozen, method, request)

    # ---- wiring --------------------------------------------------------------------------------
    def wire(self, tab: gr.Tab) -> None:
        f = self.fields
        freeze_in = [self.model, self.shared.modality, f["frozen_layers"], f["method"]]
        freeze_out = [f["frozen_layers"], self.frozen_readout, self.model_info]
        private = dict(api_visibility="private")
        self.model.input(self.on_model, inputs=freeze_in, outputs=freeze_out, show_progress_on=[self.frozen_readout],
                         **private)
        tab.select(self.on_open, inputs=freeze_in, outputs=freeze_out, show_progress_on=[self.frozen_readout],
                   **private)
        for comp in (f["frozen_layers"], f["method"]):
            comp.change(self.on_frozen, inputs=freeze_in, outputs=[self.frozen_readout], queue=False,
                        show_progress="hidden", **private)
        f["lr"].change(self.on_lr, inputs=[f["lr"]], outputs=[self.lr_readout], queue=False, show_progress="hidden",
                       **private)
        self.suggest.click(self.on_suggest, inputs_kwargs=self.form,
                           outputs=[f["lr"], self.lr_readout, self.lr_message, self.lr_plot, self.touched,
                                    self.auto_note],
                           concurrency_limit=1, concurrency_id="lr-suggest", show_progress_on=[self.lr_message],
                           **private)
        for name in AUTO_FIELDS:   # set by hand (a person's input, not a programmatic update): Auto keeps it
            f[name].input(lambda touched, auto, n=name: self.on_touch(touched, auto, add=n),
                          inputs=[self.touched, f["auto"]], outputs=[self.touched, self.auto_note], queue=False,
                          show_progress="hidden", **private)
        f["auto"].change(lambda touched, auto: self.on_touch(touched, auto), inputs=[self.touched, f["auto"]],
                         outputs=[self.touched, self.auto_note], queue=False, show_progress="hidden", **private)
        self.auto_reset.click(lambda auto: self.on_touch([], auto, reset=True), inputs=[f["auto"]],
                              outputs=[self.touched, self.auto_note], queue=False, **private)
        self._freeze_in, self._freeze_out = freeze_in, freeze_out

    def on_touch(self, touched, auto, add: str | None = None, reset: bool = False) -> dict:
        touched = [] if reset else sorted(set(touched or []) | ({add} if add else set()))
        return {self.touched: touched, self.auto_note: auto_note(bool(auto), touched)}

    def follow_data(self, events: list) -> None:
        """After every data change: refresh the model list and defaults, then the freezing readout."""
        data_out = [self.model, self.model_info, self.frozen_readout, self.fields["lr"], self.lr_readout,
                    self.fields["augment"], self.fields["hflip"], self.shared.modality, self.changed]
        for ev in events:
            ev.then(self.on_data, inputs=[self.model, self.shared.modality], outputs=data_out,
                    api_visibility="private", show_progress="hidden") \
              .then(self.after_data, inputs=self._freeze_in + [self.changed], outputs=self._freeze_out,
                    api_visibility="private", show_progress_on=[self.frozen_readout])
