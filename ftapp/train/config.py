"""Training settings: one dataclass, the single source of their names, defaults and help texts.

The fields marked with `setting(...)` are what a user may choose. The CLI's options, the API's
parameters and the app's form are derived from them (`SETTINGS`), so a default lives here and
nowhere else; a value of None means "the engine decides" (per modality, per model, or by Auto).
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields


@dataclass(frozen=True)
class Setting:
    """How one training setting is presented: in the form, as a CLI option, as an API parameter."""
    name: str
    default: object
    kind: type                      # int | float | str | bool
    label: str                      # the form's label
    help: str                       # one or two plain sentences: what it does, when to change it
    optional: bool = False          # None is allowed and means "the engine decides"
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    ui: bool = True                 # shown in the app's form (else CLI and API only)
    advanced: bool = False          # the form's "Advanced settings" section
    aliases: tuple[str, ...] = ()   # extra CLI option names

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


def setting(default, kind: type, label: str, help: str, **kw):
    """A dataclass field that is also a user setting (see `Setting`)."""
    return field(default=default, metadata={"setting": dict(kind=kind, label=label, help=help, **kw)})


@dataclass
class TrainConfig:
    model: str = ""
    data: str = ""                       # path of the labelled data (file, zip or folder)
    val_data: str | None = None          # optional separate validation file
    test_data: str | None = None         # optional held-out test file, scored once after training
    text_column: str | None = None
    label_column: str | None = None
    path_column: str | None = None

    method: str = setting("full", str, "Training method", choices=("full", "lora"),
                          help="full: the unfrozen blocks change fully. lora: they get small add-on matrices "
                               "instead — fewer numbers train, less memory, often as good.")
    frozen_layers: int | None = setting(None, int, "Frozen blocks", optional=True, minimum=0, step=1,
                                        help="Blocks counted from the input that keep their pre-trained weights. "
                                             "More frozen = faster and safer with little data; fewer = adapts more.")
    lr: float | None = setting(None, float, "Learning rate", optional=True, minimum=1e-6, maximum=1e-1,
                               help="How big each update is. Too high: the loss jumps or explodes; too low: it "
                                    "barely moves.")
    epochs: int = setting(5, int, "Epochs", minimum=1, maximum=30, step=1,
                          help="How many times the model sees every training example. More can help until it "
                               "starts memorising (validation loss rises).")
    batch_size: int = setting(32, int, "Batch size", choices=(4, 8, 16, 32, 64, 128),
                              help="Examples per update step. Smaller uses less memory; lower it if you run out "
                                   "of memory.")
    weight_decay: float = setting(0.01, float, "Weight decay", minimum=0.0, maximum=0.3, step=0.01, advanced=True,
                                  help="Gently pulls weights toward zero each step, which fights memorising the "
                                       "training data.")
    warmup_ratio: float = setting(0.1, float, "Warm-up share", minimum=0.0, maximum=0.5, step=0.05, advanced=True,
                                  aliases=("--warmup",),
                                  help="Share of the steps at the start during which the learning rate ramps up, "
                                       "so early steps do not wreck the pre-trained weights.")
    schedule: str = setting("linear", str, "Learning-rate schedule", choices=("linear", "cosine", "constant"),
                            ui=False, help="How the learning rate falls after the warm-up.")
    patience: int = setting(3, int, "Early-stopping patience (0 = off)", minimum=0, maximum=10, step=1,
                            advanced=True,
                            help="Stop when the validation loss has not improved for this many epochs; the best "
                                 "epoch is kept.")
    augment: bool = setting(False, bool, "Augment pictures", advanced=True,
                            help="Pictures only: random crops, flips and colour changes each epoch, so the model "
                                 "sees more variety (slower: no speed-up from frozen blocks).")
    dropout: float | None = setting(None, float, "Dropout", optional=True, minimum=0.0, maximum=0.9, advanced=True,
                                    help="Randomly silences this share of connections while training, against "
                                         "memorising. Keep the model's own unless it over-fits.")
    val_fraction: float = setting(0.2, float, "Validation share", minimum=0.05, maximum=0.5, step=0.05,
                                  advanced=True,
                                  help="Share of your examples held out to check the model; they are never "
                                       "trained on.")
    seed: int = setting(0, int, "Random seed", advanced=True,
                        help="Fixes the shuffling and the split: the same seed gives the same run.")
    lora_r: int = setting(8, int, "LoRA rank", minimum=1, ui=False, help="Size of the LoRA adapter matrices.")
    max_length: int = setting(128, int, "Tokens per text", minimum=8, ui=False,
                              help="Texts: longer texts are cut to this many tokens.")
    cache_prefix: bool = setting(True, bool, "Compute frozen blocks once", ui=False, aliases=("--cache",),
                                 help="Off only for speed comparisons: recompute the frozen blocks every epoch.")
    precision: str = setting("auto", str, "Precision", choices=("auto", "fp32", "bf16"), ui=False,
                             help="auto: bf16 mixed precision on GPUs and on CPUs with native bf16, else fp32.")

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self) -> list[str]:
        """Settings out of range, in plain words (checked before a run starts)."""
        checks = [
            (self.epochs >= 1, "Epochs must be at least 1."),
            (self.batch_size >= 1, "Batch size must be at least 1."),
            (0 < self.val_fraction < 1, "The validation share must be between 0 and 1, for example 0.2."),
            (self.lr is None or self.lr > 0, "The learning rate must be above 0, for example 1e-4."),
            (self.weight_decay >= 0, "Weight decay cannot be negative."),
            (0 <= self.warmup_ratio < 1, "The warm-up share must be between 0 and 1, for example 0.1."),
            (self.patience >= 0, "Early-stopping patience cannot be negative (0 turns it off)."),
            (self.method in ("full", "lora"), "The method must be 'full' or 'lora'."),
            (self.precision in ("auto", "fp32", "bf16"), "Precision must be auto, fp32 or bf16."),
            (self.schedule in ("linear", "cosine", "constant"), "The schedule must be linear, cosine or constant."),
            (self.frozen_layers is None or self.frozen_layers >= 0, "Frozen layers cannot be negative."),
            (self.dropout is None or 0 <= self.dropout < 1, "Dropout must be between 0 and 1, for example 0.1."),
        ]
        return [message for ok, message in checks if not ok]

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Known keys only; a setting given as None takes its default (None = "let the engine decide")."""
        known = {f.name: f for f in fields(cls)}
        return cls(**{k: v for k, v in d.items()
                      if k in known and not (v is None and k in SETTING_NAMES and not SETTINGS[k].optional)})

    @classmethod
    def from_user(cls, d: dict) -> "TrainConfig":
        """Like from_dict, for values typed by a person or sent by an API client: each setting is
        converted to its kind; one that cannot be raises ValueError with a plain message."""
        values = dict(d)
        for name, s in SETTINGS.items():
            v = values.get(name)
            if v is None or isinstance(v, s.kind) and not (s.kind is int and isinstance(v, bool)):
                continue
            try:
                if s.kind is bool:
                    if str(v).strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    values[name] = str(v).strip().lower() in ("true", "1", "yes")
                elif s.kind is int:
                    f = float(v)
                    if not f.is_integer():
                        raise ValueError
                    values[name] = int(f)
                else:
                    values[name] = s.kind(v)
            except (TypeError, ValueError):
                kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}[s.kind]
                raise ValueError(f"The setting '{name}' must be {kind}, not {v!r}.") from None
        return cls.from_dict(values)

    def user_settings(self) -> dict:
        return {name: getattr(self, name) for name in SETTINGS}


def _settings() -> dict[str, Setting]:
    out = {}
    for f in fields(TrainConfig):
        meta = f.metadata.get("setting")
        if meta is not None:
            default = f.default if f.default is not MISSING else None
            out[f.name] = Setting(name=f.name, default=default, **meta)
    return out


SETTINGS: dict[str, Setting] = _settings()
SETTING_NAMES = tuple(SETTINGS)

DEFAULT_LR = {"text": 1e-4, "image": 1e-3}


def default_lr(modality: str) -> float:
    return DEFAULT_LR[modality]
