"""Training settings: one dataclass shared by the CLI, the app and the run folders."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainConfig:
    model: str
    data: str = ""                       # path of the labelled data (file, zip or folder)
    val_data: str | None = None          # optional separate validation file
    test_data: str | None = None         # optional held-out test file, scored once after training
    text_column: str | None = None
    label_column: str | None = None
    path_column: str | None = None
    method: str = "full"                 # "full" (unfreeze whole blocks) | "lora"
    frozen_layers: int | None = None     # None = the model's recommended default
    lr: float | None = None              # None = per-modality default
    epochs: int = 5
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    schedule: str = "linear"             # "linear" | "cosine" | "constant", after the warmup
    patience: int = 3                    # early stopping: epochs without a better validation loss; 0 = off
    augment: bool = False                # images only: random crops, flips, colour jitter
    dropout: float | None = None         # None = the model's own
    val_fraction: float = 0.2
    seed: int = 0
    lora_r: int = 8
    max_length: int = 128                # text: tokens per example
    cache_prefix: bool = True            # compute frozen blocks once (issue 4); off only for comparisons
    precision: str = "auto"              # "auto" (bf16 where the hardware has it) | "fp32" | "bf16"

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
            (self.frozen_layers is None or self.frozen_layers >= 0, "Frozen layers cannot be negative."),
        ]
        return [message for ok, message in checks if not ok]

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


DEFAULT_LR = {"text": 1e-4, "image": 1e-3}


def default_frozen_layers(n_blocks: int, modality: str) -> int:
    """What a newcomer gets: keep the early, general-purpose blocks, adapt the later ones.

    Text: freeze the first third (MiniLM: 2 of 6). Images: freeze all but the last two blocks
    (EfficientNet-Lite0: 6 of 8), so training reuses ImageNet features and runs fast on CPU
    thanks to the frozen-prefix cache.
    """
    if n_blocks <= 1:
        return 0
    return n_blocks // 3 if modality == "text" else max(n_blocks - 2, 0)
