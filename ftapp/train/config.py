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
    kind: type                      # int | float | str | bool | dict (JSON: a file on the CLI)
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

    label_map: dict | None = setting(None, dict, "Class edits", optional=True, ui=False,
                                     help="Renames, merges and drops classes: a JSON object old label -> new "
                                          "label, null drops the rows (on the command line: a .json file).")
    row_edits: dict | None = setting(None, dict, "Row fixes", optional=True, ui=False,
                                     help="Fixes to single examples, from the data check: a JSON object row -> new "
                                          "label (rows named as in the reports, e.g. 'data.csv row 14'), null drops "
                                          "the row.")
    merge_similar_labels: bool = setting(False, bool, "Merge look-alike labels", ui=False,
                                         help="Treat labels that differ only in case, spaces or Unicode form "
                                              "('Billing', 'billing ') as one class.")
    min_examples: int = setting(0, int, "Drop classes smaller than", minimum=0, ui=False,
                                help="Leave out classes with fewer examples than this (after the edits above).")
    auto: bool = setting(True, bool, "Auto: find good settings",
                         help="Tries several learning rates and numbers of frozen blocks briefly on the frozen "
                              "blocks' cached outputs, trains the best one to the end, and keeps whatever wins "
                              "against frozen features + logistic regression. Settings you fix yourself stay fixed.")
    method: str | None = setting(None, str, "Training method", optional=True, choices=("full", "lora"),
                                 help="full: the unfrozen blocks change fully. lora: they get small add-on matrices "
                                      "instead — fewer numbers train, less memory, often as good.")
    frozen_layers: int | None = setting(None, int, "Frozen blocks", optional=True, minimum=0, step=1,
                                        help="Blocks counted from the input that keep their pre-trained weights. "
                                             "More frozen = faster and safer with little data; fewer = adapts more.")
    lr: float | None = setting(None, float, "Learning rate", optional=True, minimum=1e-6, maximum=1e-1,
                               help="How big each update is. Too high: the loss jumps or explodes; too low: it "
                                    "barely moves.")
    epochs: int | None = setting(None, int, "Epochs (at most)", optional=True, minimum=1, maximum=300, step=1,
                                 help="An upper bound: the run stops earlier when validation stops improving. "
                                      "Left empty, ftapp plans enough passes for at least a few hundred updates.")
    time_budget: float = setting(10.0, float, "Time budget (minutes)", minimum=0.5, maximum=600.0, step=0.5,
                                 help="The run (the Auto search included) stops at this time and keeps the best "
                                      "model found so far.")
    batch_size: int = setting(32, int, "Batch size", choices=(4, 8, 16, 32, 64, 128),
                              help="Examples per update step. Smaller uses less memory; lower it if you run out "
                                   "of memory.")
    min_steps: int = setting(300, int, "Updates at least", minimum=1, ui=False,
                             help="However small the data, the run plans at least this many optimizer steps.")
    weight_decay: float = setting(0.01, float, "Weight decay", minimum=0.0, maximum=0.3, step=0.01, advanced=True,
                                  help="Gently pulls weights toward zero each step, which fights memorising the "
                                       "training data.")
    warmup_ratio: float = setting(0.1, float, "Warm-up share", minimum=0.0, maximum=0.5, step=0.05, advanced=True,
                                  aliases=("--warmup",),
                                  help="Share of the steps at the start during which the learning rate ramps up, "
                                       "so early steps do not wreck the pre-trained weights.")
    schedule: str = setting("cosine", str, "Learning-rate schedule", choices=("cosine", "linear", "constant"),
                            ui=False, help="How the learning rate falls after the warm-up, down to the planned end.")
    layer_decay: float = setting(1.0, float, "Layer decay", minimum=0.1, maximum=1.0, advanced=True,
                                 help="Each block further from the head learns at this fraction of the next one's "
                                      "rate (fastai's discriminative learning rates); 1 = the same rate everywhere.")
    patience: int = setting(4, int, "Early-stopping patience (0 = off)", minimum=0, maximum=20, step=1,
                            advanced=True,
                            help="Stop when the validation loss has not improved for this many checks; the best "
                                 "checkpoint is kept.")
    class_weights: str = setting("auto", str, "Class weights", choices=("auto", "on", "off"), advanced=True,
                                 help="Weigh rare classes up in the loss so the model does not ignore them. auto: "
                                      "on when the largest class has 3 times the examples of the smallest.")
    augment: bool = setting(False, bool, "Augment pictures", advanced=True,
                            help="Pictures only: random crops and colour changes each epoch, so the model sees "
                                 "more variety (slower: no speed-up from frozen blocks).")
    hflip: bool = setting(False, bool, "Mirror pictures when augmenting", advanced=True,
                          help="Also flip pictures left–right. Only for natural photos: a mirrored digit, letter "
                               "or anything with a left and a right is a different thing.")
    dropout: float | None = setting(None, float, "Dropout", optional=True, minimum=0.0, maximum=0.9, advanced=True,
                                    help="Randomly silences this share of connections while training, against "
                                         "memorising. Keep the model's own unless it over-fits.")
    val_fraction: float = setting(0.15, float, "Validation share", minimum=0.05, maximum=0.5, step=0.05,
                                  advanced=True,
                                  help="Share of your examples held out to choose the settings and the best "
                                       "checkpoint; they are never trained on.")
    test_fraction: float = setting(0.1, float, "Test share", minimum=0.0, maximum=0.4, step=0.05, advanced=True,
                                   help="Share held out for the final score, which nothing is chosen on (only when "
                                        "every class has at least 30 examples; 0 = none).")
    seed: int = setting(0, int, "Random seed", advanced=True,
                        help="Fixes the shuffling and the split: the same seed gives the same run.")
    head_init: str = setting("probe", str, "New head starts as", choices=("probe", "random"), ui=False,
                             help="probe: fitted on the frozen features first (linear probe, then fine-tune); "
                                  "random: the usual random initialisation.")
    select: str = setting("accuracy", str, "Best checkpoint by", choices=("accuracy", "loss"), ui=False,
                          help="Which validation number picks the checkpoint kept and ranks Auto's candidates "
                               "(accuracy, ties by loss). Loss alone stops runs that start from a fitted head "
                               "too early: they grow confident faster than they grow wrong.")
    pooling: str = setting("auto", str, "Head input", choices=("auto", "model"), ui=False,
                           help="auto: a sentence-embedding model's head reads its pooled embedding (what it was "
                                "trained to produce); model: the model's own classification head.")
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
            (self.epochs is None or self.epochs >= 1, "Epochs must be at least 1."),
            (self.time_budget > 0, "The time budget must be above 0 minutes."),
            (self.min_steps >= 1, "The step floor must be at least 1."),
            (0 < self.layer_decay <= 1, "Layer decay must be above 0 and at most 1."),
            (0 <= self.test_fraction < 0.5, "The test share must be between 0 and 0.5, for example 0.1."),
            (self.val_fraction + self.test_fraction < 0.8, "Validation and test shares together must leave most "
                                                           "of the data for training."),
            (self.class_weights in ("auto", "on", "off"), "Class weights must be auto, on or off."),
            (self.pooling in ("auto", "model"), "The head input must be auto or model."),
            (self.batch_size >= 1, "Batch size must be at least 1."),
            (0 < self.val_fraction < 1, "The validation share must be between 0 and 1, for example 0.2."),
            (self.lr is None or self.lr > 0, "The learning rate must be above 0, for example 1e-4."),
            (self.weight_decay >= 0, "Weight decay cannot be negative."),
            (0 <= self.warmup_ratio < 1, "The warm-up share must be between 0 and 1, for example 0.1."),
            (self.patience >= 0, "Early-stopping patience cannot be negative (0 turns it off)."),
            (self.method in (None, "full", "lora"), "The method must be 'full' or 'lora'."),
            (self.precision in ("auto", "fp32", "bf16"), "Precision must be auto, fp32 or bf16."),
            (self.schedule in ("cosine", "linear", "constant"), "The schedule must be cosine, linear or constant."),
            (self.frozen_layers is None or self.frozen_layers >= 0, "Frozen layers cannot be negative."),
            (self.dropout is None or 0 <= self.dropout < 1, "Dropout must be between 0 and 1, for example 0.1."),
            (self.min_examples >= 0, "The smallest class size to keep cannot be negative."),
            (self.row_edits is None or all(isinstance(k, str) and (v is None or isinstance(v, str))
                                           for k, v in self.row_edits.items()),
             "Row fixes must map each row to a new label (text) or to null (drop)."),
            (self.label_map is None or all(isinstance(k, str) and (v is None or isinstance(v, str))
                                           for k, v in self.label_map.items()),
             "Class edits must map each old label to a new label (text) or to null (drop)."),
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
                elif s.kind is dict:
                    import json

                    values[name] = json.loads(v) if isinstance(v, str) and v.strip() else None
                    if values[name] is not None and not isinstance(values[name], dict):
                        raise ValueError
                elif s.kind is int:
                    f = float(v)
                    if not f.is_integer():
                        raise ValueError
                    values[name] = int(f)
                else:
                    values[name] = s.kind(v)
            except (TypeError, ValueError):
                kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text",
                        dict: "a JSON object"}[s.kind]
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
