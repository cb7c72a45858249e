"""Step 2 — Model & settings: which pre-trained model, how much of it trains, how fast."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import gradio as gr

from ftapp.models import default_model, find_spec, models_for
from ftapp.train.config import DEFAULT_LR, TrainConfig, default_frozen_layers
from ftapp.ui import charts
from ftapp.ui.common import guarded
from ftapp.ui.core import AppContext, UserError
from ftapp.ui.texts import fmt_lr, freezing_readout, log_from_lr, lr_from_log, lr_readout, md_escape

DEFAULTS = TrainConfig(model="")   # the form starts from the engine's defaults, not a copy of them

DROPOUT_CHOICES = [("The model's own", "model"), ("0.0 (none)", "0.0"), ("0.1", "0.1"), ("0.2", "0.2"),
                   ("0.3", "0.3"), ("0.5", "0.5")]
METHOD_CHOICES = [("Unfreeze whole blocks", "full"), ("LoRA adapters (lighter)", "lora")]
LR_MIN, LR_MAX = -6.0, -1.0


class FreezeCache:
    """freezing_options results the UI already has, so slider moves never load a model."""

    def __init__(self):
        self._d: dict = {}
        self._lock = threading.Lock()

    def get(self, model: str, modality: str | None):
        with self._lock:
            return self._d.get((model, modality))

    def load(self, ctx: AppContext, model: str, modality: str | None) -> dict:
        from ftapp.models.inspect import freezing_options

        hit = self.get(model, modality)
        if hit is not None:
            return hit
        opts = freezing_options(model, modality, allow_local_paths=not ctx.hosted)
        with self._lock:
            self._d[(model, modality)] = opts
        return opts


FREEZE = FreezeCache()


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


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    custom = ("Hub id such as 'distilbert-base-uncased'" if ctx.hosted
              else "Hub id such as 'distilbert-base-uncased', or a model folder on this computer")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            ui.model = gr.Dropdown(label="Pre-trained model", choices=model_choices(None), value=None,
                                   allow_custom_value=True, elem_id="model-select", filterable=True,
                                   info=f"The network you start from: it already knows general features and only "
                                        f"learns your classes. Pick one or type a {custom}.")
            ui.model_info = gr.Markdown("Load data in step 1; the models that fit it are listed here.",
                                        elem_id="model-info")
            ui.method = gr.Radio(label="Training method", choices=METHOD_CHOICES, value="full", elem_id="method",
                                 info="Unfreeze: the unfrozen blocks change fully. LoRA: they get small add-on "
                                      "matrices instead — fewer numbers train, less memory, often as good.")
            ui.frozen = gr.Slider(label="Frozen blocks", minimum=0, maximum=6, step=1, value=2,
                                  elem_id="frozen-layers",
                                  info="Blocks counted from the input that keep their pre-trained weights. More "
                                       "frozen = faster and safer with little data; fewer = adapts more.")
            ui.frozen_readout = gr.Markdown("Choose a model to see its blocks.", elem_id="frozen-readout",
                                            elem_classes=["readout"])
        with gr.Column(scale=1, min_width=320):
            ui.lr = gr.Slider(label="Learning rate (log scale: −4 means 10⁻⁴)", minimum=LR_MIN, maximum=LR_MAX,
                              step=0.01, value=-4.0, elem_id="learning-rate",
                              info="How big each update is. Too high: the loss jumps or explodes; too low: it "
                                   "barely moves. One step right on the scale = ten times bigger.")
            with gr.Row():
                ui.lr_readout = gr.Markdown(lr_readout(-4.0), elem_id="lr-readout", elem_classes=["readout"])
                ui.suggest = gr.Button("Suggest a rate", size="sm", scale=0, min_width=150, elem_id="lr-suggest")
            ui.lr_message = gr.Markdown("", elem_id="lr-message")
            ui.lr_plot = gr.Plot(visible=False, show_label=False, elem_id="lr-plot")
            ui.epochs = gr.Slider(label="Epochs", minimum=1, maximum=30, step=1, value=DEFAULTS.epochs, elem_id="epochs",
                                  info="How many times the model sees every training example. More can help "
                                       "until it starts memorising (validation loss rises).")
            ui.batch = gr.Dropdown(label="Batch size", choices=[4, 8, 16, 32, 64, 128], value=DEFAULTS.batch_size,
                                   elem_id="batch-size",
                                   info="Examples per update step. Smaller uses less memory; lower it if you "
                                        "run out of memory.")
    with gr.Accordion("Advanced settings", open=False, elem_id="advanced"):
        with gr.Row():
            ui.weight_decay = gr.Slider(label="Weight decay", minimum=0, maximum=0.3, step=0.01, value=DEFAULTS.weight_decay,
                                        elem_id="weight-decay",
                                        info="Gently pulls weights toward zero each step, which fights "
                                             "memorising the training data.")
            ui.warmup = gr.Slider(label="Warm-up share", minimum=0, maximum=0.5, step=0.05, value=DEFAULTS.warmup_ratio,
                                  elem_id="warmup",
                                  info="Share of the steps at the start during which the learning rate ramps up "
                                       "from zero, so early steps do not wreck the pre-trained weights.")
            ui.patience = gr.Slider(label="Early-stopping patience (0 = off)", minimum=0, maximum=10, step=1,
                                    value=DEFAULTS.patience, elem_id="patience",
                                    info="Stop when the validation loss has not improved for this many epochs; "
                                         "the best epoch is kept.")
        with gr.Row():
            ui.val_fraction = gr.Slider(label="Validation share", minimum=0.05, maximum=0.5, step=0.05,
                                        value=DEFAULTS.val_fraction, elem_id="val-fraction",
                                        info="Share of your examples held out to check the model; they are "
                                             "never trained on.")
            ui.seed = gr.Number(label="Random seed", value=DEFAULTS.seed, precision=0, elem_id="seed",
                                info="Fixes the shuffling and the split: the same seed gives the same run.")
            ui.dropout = gr.Dropdown(label="Dropout", choices=DROPOUT_CHOICES, value="model", elem_id="dropout",
                                     info="Randomly silences this share of connections while training, against "
                                          "memorising. Keep the model's own unless it over-fits.")
            ui.augment = gr.Checkbox(label="Augment pictures", value=DEFAULTS.augment, elem_id="augment",
                                     info="Pictures only: random crops, flips and colour changes each epoch, so "
                                          "the model sees more variety (slower: no speed-up from frozen blocks).")
    return ui


def settings_inputs(ui) -> list:
    """The form, in the order `collect` takes it."""
    return [ui.model, ui.method, ui.frozen, ui.lr, ui.epochs, ui.batch, ui.weight_decay, ui.warmup, ui.patience,
            ui.val_fraction, ui.seed, ui.dropout, ui.augment]


def collect(model, method, frozen, lr_log, epochs, batch, weight_decay, warmup, patience, val_fraction, seed,
            dropout, augment) -> dict:
    """Form values → TrainConfig fields (no training math: unit conversions only)."""
    epochs = int(epochs or 5)
    patience = int(patience or 0)
    return {
        "model": (model or "").strip(),
        "method": method if method in ("full", "lora") else "full",
        "frozen_layers": None if frozen is None else int(frozen),
        "lr": lr_from_log(lr_log) if lr_log is not None else None,
        "epochs": epochs,
        "batch_size": int(batch or 32),
        "weight_decay": float(weight_decay if weight_decay is not None else 0.01),
        "warmup_ratio": float(warmup if warmup is not None else 0.1),
        "patience": patience,   # 0 = never stop early (the engine's meaning)
        "val_fraction": float(val_fraction or 0.2),
        "seed": int(seed or 0),
        "dropout": None if dropout in (None, "", "model") else float(dropout),
        "augment": bool(augment),
    }


def refill(settings: dict, info: dict | None = None) -> tuple:
    """A run's settings → form updates (same order as settings_inputs) + frozen readout."""
    info = info or {}
    s = {**TrainConfig(model="").to_dict(), **(settings or {})}
    model = s.get("model") or None
    modality = s.get("modality")
    opts = FREEZE.get(model, modality) if model else None
    n_blocks = (opts or {}).get("n_blocks") or info.get("n_blocks")
    frozen = s.get("frozen_layers")
    if frozen is None:
        frozen = info.get("frozen_layers")
    if frozen is None and n_blocks is not None and modality:
        frozen = default_frozen_layers(int(n_blocks), modality)
    lr = s.get("lr") or info.get("lr") or DEFAULT_LR.get(modality or "text")
    lr_log = min(LR_MAX, max(LR_MIN, log_from_lr(lr)))
    epochs = int(s.get("epochs") or 5)
    patience = int(s.get("patience") or 0)
    dropout = s.get("dropout")
    dropout_value = "model" if dropout is None else (f"{float(dropout):.1f}" if f"{float(dropout):.1f}" in
                                                     [c[1] for c in DROPOUT_CHOICES] else "model")
    if opts:
        readout = freezing_readout(opts, frozen or 0, s.get("method", "full"))
    elif n_blocks is not None and frozen is not None:
        readout = freezing_readout({"n_blocks": n_blocks, "total_params": info.get("total_params"),
                                    "trainable_params": {}}, frozen, s.get("method", "full"))
        if info.get("trainable_params") and info.get("total_params") and info.get("frozen_layers") == frozen:
            t, tot = info["trainable_params"], info["total_params"]
            readout = (f"**{frozen} of {n_blocks} blocks frozen** — {t / 1e6:.1f}M of {tot / 1e6:.1f}M "
                       f"parameters train ({100 * t / tot:.0f} %).")
    else:
        readout = "Choose a model to see its blocks."
    slider_kw = {"value": frozen if frozen is not None else 0}
    if n_blocks:
        slider_kw["maximum"] = int(n_blocks)
    slider = gr.Slider(**slider_kw)
    return (gr.update(value=model), s.get("method", "full"), slider, lr_log, epochs, int(s.get("batch_size") or 32),
            float(s.get("weight_decay", 0.01)), float(s.get("warmup_ratio", 0.1)),
            patience, float(s.get("val_fraction") or 0.2), int(s.get("seed") or 0),
            dropout_value, bool(s.get("augment")), readout, lr_readout(lr_log))


def refill_outputs(ui) -> list:
    return settings_inputs(ui) + [ui.frozen_readout, ui.lr_readout]


def wire(ctx: AppContext, ui, modality_state: gr.State) -> dict:
    def model_modality(model: str, data_modality: str | None) -> str | None:
        spec = find_spec(model or "")
        return data_modality or (spec.modality if spec else None)

    def load_freezing(model, data_modality, frozen, method, keep_value: bool, session: str | None):
        """Slider range, value and readout for a model (loads it once; cached)."""
        token = LATEST.bump(session)
        model = (model or "").strip()
        if not model:
            return gr.Slider(), "Choose a model to see its blocks.", ""
        spec = find_spec(model)
        if spec and data_modality and spec.modality != data_modality:
            raise UserError(f"'{model}' is a model for {spec.modality}s but your data is {data_modality}s. "
                            f"Pick a {data_modality} model.")
        if ctx.hosted and model and not spec:
            from ftapp.ui.session import looks_like_local_path
            if looks_like_local_path(model):
                raise UserError("On this hosted app only Hugging Face Hub ids work, e.g. "
                                "'distilbert-base-uncased'.")
        opts = FREEZE.load(ctx, model, model_modality(model, data_modality))
        if not LATEST.is_current(session, token):
            return gr.skip(), gr.skip(), gr.skip()   # the user has picked another model meanwhile
        n = int(opts["n_blocks"])
        value = int(frozen) if keep_value and frozen is not None and 0 <= int(frozen) <= n else opts["default_frozen"]
        return (gr.Slider(minimum=0, maximum=n, value=value), freezing_readout(opts, value, method),
                model_description(model, ctx.hosted))

    def freeze_error(msg):
        return gr.skip(), f"**Problem:** {md_escape(msg)}", gr.skip()

    @guarded(3, on_error=freeze_error)
    def on_model(model, data_modality, frozen, method, request: gr.Request):
        return load_freezing(model, data_modality, frozen, method, False, request.session_hash)

    @guarded(3, on_error=freeze_error)
    def on_open(model, data_modality, frozen, method, request: gr.Request):
        """Tab opened: make sure the readout knows the model (keeps the slider's value)."""
        opts = FREEZE.get((model or "").strip(), model_modality(model, data_modality)) if model else None
        if opts is not None:
            LATEST.bump(request.session_hash)
            return gr.skip(), freezing_readout(opts, frozen or 0, method), model_description(model, ctx.hosted)
        return load_freezing(model, data_modality, frozen, method, True, request.session_hash)

    @guarded(1)
    def on_frozen(model, data_modality, frozen, method):
        opts = FREEZE.get((model or "").strip(), model_modality(model, data_modality)) if model else None
        if opts is None:
            return gr.skip()
        return freezing_readout(opts, frozen or 0, method)

    def on_lr(x):
        try:
            return lr_readout(float(x))
        except (TypeError, ValueError):
            return gr.skip()

    @guarded(4)
    def on_suggest(model, method, frozen, lr_log, epochs, batch, weight_decay, warmup, patience, val_fraction,
                   seed, dropout, augment, request: gr.Request):
        from ftapp.train.lr_find import suggest_lr

        data = ctx.session_data(request.session_hash)
        if not data or not data.get("ok"):
            raise UserError("Load usable data in step 1 first: the test trains briefly on it.")
        settings = collect(model, method, frozen, lr_log, epochs, batch, weight_decay, warmup, patience,
                           val_fraction, seed, dropout, augment)
        if not settings["model"]:
            raise UserError("Choose a model first.")
        cfg = TrainConfig.from_dict({**settings, "data": data["path"], "text_column": data.get("text_column"),
                                     "label_column": data.get("label_column"),
                                     "path_column": data.get("path_column"), "lr": None})
        result = suggest_lr(cfg, limits=ctx.limits, allow_local_paths=not ctx.hosted)
        lr = float(result["lr"])
        x = min(LR_MAX, max(LR_MIN, log_from_lr(lr)))
        msg = md_escape(result.get("message") or f"Suggested learning rate: {fmt_lr(lr)}.")
        return x, lr_readout(x), msg, gr.Plot(value=charts.lr_figure(result), visible=True)

    form = settings_inputs(ui)
    freeze_outs = [ui.frozen, ui.frozen_readout, ui.model_info]
    ui.model.input(on_model, inputs=[ui.model, modality_state, ui.frozen, ui.method], outputs=freeze_outs,
                   api_visibility="private", show_progress_on=[ui.frozen_readout])
    ui.frozen.change(on_frozen, inputs=[ui.model, modality_state, ui.frozen, ui.method], outputs=[ui.frozen_readout],
                     api_visibility="private", queue=False, show_progress="hidden")
    ui.method.change(on_frozen, inputs=[ui.model, modality_state, ui.frozen, ui.method], outputs=[ui.frozen_readout],
                     api_visibility="private", queue=False, show_progress="hidden")
    ui.lr.change(on_lr, inputs=[ui.lr], outputs=[ui.lr_readout], api_visibility="private", queue=False,
                 show_progress="hidden")
    ui.suggest.click(on_suggest, inputs=form, outputs=[ui.lr, ui.lr_readout, ui.lr_message, ui.lr_plot],
                     api_visibility="private", concurrency_limit=1, concurrency_id="lr-suggest",
                     show_progress_on=[ui.lr_message])
    return {"on_open": on_open, "on_model": on_model, "freeze_outs": freeze_outs,
            "freeze_inputs": [ui.model, modality_state, ui.frozen, ui.method]}


def for_modality(modality: str | None, current_model: str | None, previous_modality: str | None, hosted: bool):
    """When the data's modality is known/changes: models that fit it, its default model and rate."""
    choices = model_choices(modality)
    if modality and modality == previous_modality and current_model:
        return (gr.Dropdown(choices=choices), gr.skip(), gr.skip(), gr.skip(), gr.skip(), modality)
    model = default_model(modality) if modality else None
    lr_log = log_from_lr(DEFAULT_LR[modality]) if modality else gr.skip()
    return (gr.Dropdown(choices=choices, value=model), model_description(model, hosted) if model else gr.skip(),
            lr_log, lr_readout(lr_log) if modality else gr.skip(), gr.Checkbox(visible=modality != "text"), modality)
