"""Training settings and the engine's fixed numbers: the single home of their names, defaults,
ranges, choices and help texts.

The fields marked with `setting(...)` are what a user may choose. The CLI's options, the API's
parameters, the app's form and the range checks (`TrainConfig.problems`) are all derived from
them (`SETTINGS`), so a default, a range or a choice lives here and nowhere else; a value of None
means "the engine decides" (per modality, per model, or by Auto). Help texts quote the constants
below rather than repeating their numbers.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields

# ---- numbers the engine works with (measured choices: see the README's defaults section) ----------
DEFAULT_LR = {"text": 1e-4, "image": 1e-3, "audio": 1e-4}
IMBALANCE = 3.0          # class weights (auto) when the largest class has this many times the smallest
MIN_TEST_PER_CLASS = 30  # below this, no test slice: the numbers are validation numbers, and say so
SMALL_VAL = 60           # fewer validation examples than this: cross-validate instead of trusting them
MIN_VAL_PER_CLASS = 5    # … or a class with fewer than this many of them: the split cannot check that class, and
                         # cross-validation checks each of its examples once (README: debian6 with two classes cut to
                         # 12 and 20 rows, whose validation held 1 and 3 of them: 0.764 -> 0.774, seeds 0-2)
SEARCH_MIN_VAL = 1000    # Auto searches settings only with this many validation examples (see README: below it the
                         # candidates' ranking was chance — debian12, 216: searched 0.735, default 0.750, 3 seeds)
CV_FOLDS = 3             # the cross-validation's parts (fewer when a class is smaller)
MAX_EPOCHS = 300         # the epoch cap when the user sets none (only tiny sets get near it)
MIN_EPOCHS = 3           # even a large set is seen a few times
EVALUATIONS = 75         # at most about this many validations a planned run makes (every epoch below that)
LEARNED_LOSS = 0.01      # a mean training loss under this: the training examples are learned (~99 % on their
LEARNED_PATIENCE = 2     # own classes), and this many checks without progress end the run (loop.learned_by_heart)
EVAL_BATCH = 64          # examples per forward pass when nothing trains (validation, features, scoring)
LORA_LR_FACTOR = 3       # LoRA's adapters start at zero and want a higher rate than whole blocks (measured:
                         # MiniLM on debian6, rates 1e-4 / 3e-4 / 1e-3 → 0.865 / 0.886 / 0.861 test accuracy)
LARGE_MODEL = 100e6      # parameters above which Auto also tries LoRA (memory matters more there)
CHECKPOINT_SECONDS = 60  # resumable checkpoints at most this often (FTAPP_CHECKPOINT_SECONDS overrides)
EVAL_RESERVE = 0.1       # the share of the time budget kept for scoring and saving after training


class Choices(tuple):
    """The allowed values of a text setting, reachable by name so no value is spelled twice:
    METHODS.lora == "lora" (a misspelt name fails at once)."""

    def __getattr__(self, name: str) -> str:
        if name in self:
            return name
        raise AttributeError(f"no choice {name!r} among {tuple(self)}")


METHODS = Choices(("full", "lora"))
SCHEDULES = Choices(("cosine", "linear", "constant"))
PRECISIONS = Choices(("auto", "fp32", "bf16"))
CLASS_WEIGHTS = Choices(("auto", "on", "off"))
HEAD_INITS = Choices(("probe", "random"))
SELECTS = Choices(("accuracy", "loss"))
POOLINGS = Choices(("auto", "model"))
TASKS = Choices(("auto", "single", "multi", "regression"))   # one class, several labels, a number (ftapp/tasks.py)


@dataclass(frozen=True)
class Setting:
    """How one training setting is presented: in the form, as a CLI option, as an API parameter."""
    name: str
    default: object
    kind: type                      # int | float | str | bool | dict (JSON: a file on the CLI)
    label: str                      # the form's label
    help: str                       # one or two plain sentences: what it does, when to change it
    optional: bool = False          # None is allowed and means "the engine decides"
    choices: tuple = ()             # the allowed values (text settings)
    suggested: tuple = ()           # values the form offers (any value in range is accepted)
    minimum: float | None = None    # inclusive bounds, checked by TrainConfig.problems()
    maximum: float | None = None
    step: float | None = None
    ui: bool = True                 # shown in the app's form (else CLI and API only)
    advanced: bool = False          # the form's "Advanced settings" section
    auto: bool = False              # Auto searches it unless the user sets it
    aliases: tuple[str, ...] = ()   # extra CLI option names

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def problem(self, value) -> str | None:
        """What is wrong with `value` for this setting, in plain words (None: nothing)."""
        if value is None:
            return None if self.optional else f"{self.label} needs a value."
        if self.choices and value not in self.choices:
            return f"{self.label} must be one of: {', '.join(map(str, self.choices))}."
        if self.kind is dict:
            ok = isinstance(value, dict) and all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                 for k, v in value.items())
            return None if ok else f"{self.label} must map each name to a new label (text) or to null (drop)."
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                return f"{self.label} must be at least {low:g} (it is {value:g})."
            return f"{self.label} must be between {low:g} and {high:g} (it is {value:g})."
        return None


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

    task: str = setting(TASKS.auto, str, "Answer", choices=TASKS, ui=False,
                        help="single: one class per example. multi: several labels per example (a label column "
                             "such as 'billing;bug'). regression: a number per example. auto: several labels or a "
                             "number when the label column looks like it (the data report says so; a handful of "
                             "whole numbers such as 1-5 ratings stays classes), else one class.")
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
                         help="Keeps the first model (frozen features + logistic regression) unless fine-tuning "
                              "beats it on data that did not choose it; with many validation examples (at least "
                              f"{SEARCH_MIN_VAL}) it also tries several learning rates and numbers of frozen blocks "
                              "briefly and trains the best to the end. Settings you fix yourself stay fixed.")
    method: str | None = setting(None, str, "Training method", optional=True, choices=METHODS, auto=True,
                                 help="full: the unfrozen blocks change fully. lora: they get small add-on matrices "
                                      "instead — fewer numbers train, less memory, often as good.")
    frozen_layers: int | None = setting(None, int, "Frozen blocks", optional=True, minimum=0, step=1, auto=True,
                                        help="Blocks counted from the input that keep their pre-trained weights. "
                                             "More frozen = faster and safer with little data; fewer = adapts more.")
    lr: float | None = setting(None, float, "Learning rate", optional=True, minimum=1e-6, maximum=1e-1, auto=True,
                               help="How big each update is. Too high: the loss jumps or explodes; too low: it "
                                    "barely moves.")
    epochs: int | None = setting(None, int, "Epochs (at most)", optional=True, minimum=1, maximum=MAX_EPOCHS, step=1,
                                 help="An upper bound: the run stops earlier when validation stops improving. "
                                      "Left empty, ftapp plans enough passes for at least a few hundred updates.")
    time_budget: float = setting(10.0, float, "Time budget (minutes)", minimum=0.5, maximum=600.0, step=0.5,
                                 help="The whole run (the Auto search and the scoring included) ends by this time "
                                      "and keeps the best model it has compared.")
    batch_size: int = setting(32, int, "Batch size", minimum=1, suggested=(4, 8, 16, 32, 64, 128),
                              help="Examples per update step. Smaller uses less memory; lower it if you run out "
                                   "of memory.")
    min_steps: int = setting(300, int, "Planned updates (at least)", minimum=1, ui=False,
                             help="However small the data, the run plans at least this many optimizer steps (the "
                                  "learning rate's schedule runs over them); early stopping usually ends it sooner.")
    weight_decay: float = setting(0.01, float, "Weight decay", minimum=0.0, maximum=0.3, step=0.01, advanced=True,
                                  help="Gently pulls weights toward zero each step, which fights memorising the "
                                       "training data.")
    warmup_ratio: float = setting(0.1, float, "Warm-up share", minimum=0.0, maximum=0.5, step=0.05, advanced=True,
                                  aliases=("--warmup",),
                                  help="Share of the steps at the start during which the learning rate ramps up, "
                                       "so early steps do not wreck the pre-trained weights.")
    schedule: str = setting(SCHEDULES.cosine, str, "Learning-rate schedule", choices=SCHEDULES,
                            ui=False, help="How the learning rate falls after the warm-up, down to the planned end.")
    layer_decay: float = setting(1.0, float, "Layer decay", minimum=0.5, maximum=1.0, step=0.05, advanced=True,
                                 help="Each block further from the head learns at this fraction of the next one's "
                                      "rate (fastai's discriminative learning rates); 1 = the same rate everywhere.")
    patience: int = setting(4, int, "Early-stopping patience (0 = off)", minimum=0, maximum=20, step=1,
                            advanced=True,
                            help="Stop when validation has not improved in a way that matters (more examples "
                                 "right, or a clearly lower loss) for this many checks — or for "
                                 f"{LEARNED_PATIENCE}, once the training examples are learned (training loss under "
                                 f"{LEARNED_LOSS:g}); the best checkpoint is kept.")
    class_weights: str = setting(CLASS_WEIGHTS.auto, str, "Class weights", choices=CLASS_WEIGHTS, advanced=True,
                                 help="Weigh rare classes up in the loss so the model does not ignore them. auto: "
                                      f"on when the largest class has {IMBALANCE:g} times the examples of the "
                                      "smallest.")
    augment: bool = setting(False, bool, "Augment pictures and recordings", advanced=True,
                            help="Pictures: random crops and colour changes each epoch; recordings: a small delay, "
                                 "a gain change, quiet noise and short silenced stretches and pitch bands — so the "
                                 "model sees more variety (slower: no speed-up from frozen blocks). Not for classes "
                                 "that differ only in pitch.")
    hflip: bool = setting(False, bool, "Mirror pictures when augmenting", advanced=True,
                          help="Also flip pictures left–right. Only for natural photos: a mirrored digit, letter "
                               "or anything with a left and a right is a different thing.")
    dropout: float | None = setting(None, float, "Dropout", optional=True, minimum=0.0, maximum=0.9, advanced=True,
                                    help="Randomly silences this share of connections while training, against "
                                         "memorising. Keep the model's own unless it over-fits.")
    val_fraction: float = setting(0.15, float, "Validation share", minimum=0.05, maximum=0.5, step=0.05,
                                  advanced=True,
                                  help="Share of your examples held out to choose the settings and the best "
                                       "checkpoint (one half) and to check the result against the first model (the "
                                       "other); they are never trained on. With fewer than "
                                       f"{SMALL_VAL} of them, or fewer than {MIN_VAL_PER_CLASS} of some class, "
                                       "cross-validation on all examples is used instead.")
    test_fraction: float = setting(0.1, float, "Test share", minimum=0.0, maximum=0.4, step=0.05, advanced=True,
                                   help="Share held out for the final score, which nothing is chosen on (only when "
                                        f"every class has at least {MIN_TEST_PER_CLASS} examples and no test file "
                                        "is given; 0 = none).")
    processes: int = setting(1, int, "Processes", minimum=1, maximum=256, step=1, advanced=True,
                             help="Train one run with this many processes on this computer's CPU cores "
                                  "(torch.distributed, each process a share of every batch). Worth it only on "
                                  "machines with many cores.")
    gpus: int = setting(1, int, "GPUs per run", minimum=1, maximum=64, step=1, advanced=True,
                        help="GPUs one run trains on at once (torch.distributed). By default each run takes one "
                             "GPU and several runs share a machine with several GPUs.")
    seed: int = setting(0, int, "Random seed", advanced=True,
                        help="Fixes the shuffling and the split: the same seed gives the same run.")
    head_init: str = setting(HEAD_INITS.probe, str, "New head starts as", choices=HEAD_INITS, ui=False,
                             help="probe: fitted on the frozen features first (linear probe, then fine-tune); "
                                  "random: the usual random initialisation.")
    select: str = setting(SELECTS.accuracy, str, "Best checkpoint by", choices=SELECTS, ui=False,
                          help="Which validation number picks the checkpoint kept and ranks Auto's candidates "
                               "(accuracy, ties by loss). Loss alone stops runs that start from a fitted head "
                               "too early: they grow confident faster than they grow wrong.")
    pooling: str = setting(POOLINGS.auto, str, "Head input", choices=POOLINGS, ui=False,
                           help="auto: a sentence-embedding model's head reads its pooled embedding (what it was "
                                "trained to produce); model: the model's own classification head.")
    lora_r: int = setting(8, int, "LoRA rank", minimum=1, ui=False, help="Size of the LoRA adapter matrices.")
    max_length: int = setting(128, int, "Tokens per text", minimum=8, ui=False,
                              help="Texts: longer texts are cut to this many tokens.")
    cache_prefix: bool = setting(True, bool, "Compute frozen blocks once", ui=False, aliases=("--cache",),
                                 help="Off only for speed comparisons: recompute the frozen blocks every epoch.")
    precision: str = setting(PRECISIONS.auto, str, "Precision", choices=PRECISIONS, ui=False,
                             help="auto: bf16 mixed precision on GPUs and on CPUs with native bf16, else fp32.")

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self) -> list[str]:
        """Settings out of range, in plain words (checked before a run starts): each setting against
        its declared range or choices, then the rules that join two settings."""
        out = [p for name, s in SETTINGS.items() if (p := s.problem(getattr(self, name)))]
        if self.val_fraction + self.test_fraction >= 0.8:
            out.append("Validation and test shares together must leave most of the data for training.")
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Known keys only; a setting given as None takes its default (None = "let the engine decide")."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items()
                      if k in known and not (v is None and k in SETTINGS and not SETTINGS[k].optional)})

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
                values[name] = _convert(v, s.kind)
            except (TypeError, ValueError):
                kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text",
                        dict: "a JSON object"}[s.kind]
                raise ValueError(f"The setting '{name}' must be {kind}, not {v!r}.") from None
        return cls.from_dict(values)

    def user_settings(self) -> dict:
        return {name: getattr(self, name) for name in SETTINGS}


def _convert(v, kind: type):
    if kind is bool:
        if str(v).strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError
        return str(v).strip().lower() in ("true", "1", "yes")
    if kind is dict:
        value = json.loads(v) if isinstance(v, str) and v.strip() else None
        if value is not None and not isinstance(value, dict):
            raise ValueError
        return value
    if kind is int:
        f = float(v)
        if not f.is_integer():
            raise ValueError
        return int(f)
    return kind(v)


def _settings() -> dict[str, Setting]:
    out = {}
    for f in fields(TrainConfig):
        meta = f.metadata.get("setting")
        if meta is not None:
            default = f.default if f.default is not MISSING else None
            out[f.name] = Setting(name=f.name, default=default, **meta)
    return out


SETTINGS: dict[str, Setting] = _settings()
AUTO_SEARCHED = tuple(name for name, s in SETTINGS.items() if s.auto)   # what Auto chooses unless set by hand


def default_lr(modality: str) -> float:
    return DEFAULT_LR[modality]
