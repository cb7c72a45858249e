"""A pre-trained backbone with a new head sized to the user's classes.

`Classifier` owns the torch module, its preprocessing and its block layout, and offers the
handful of operations the trainer and the app need: freeze the first k blocks, add LoRA
adapters, predict, save. Loading lives in loading.py.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from ftapp.files import MODEL_META, SENTENCE_HEAD
from ftapp.data.report import VALUE
from ftapp.tasks import NUMBER, ONE, SEVERAL, TASKS
from ftapp.models.heads import head_linear, write_sentence_transformers_files, write_setfit_head
from ftapp.models.layout import Layout, find_layout
from ftapp.models.preprocess import AudioPreprocessor, ImagePreprocessor, TextPreprocessor
from ftapp.server_load import wait_while_busy
from ftapp.train.config import EVAL_BATCH

PROBLEM_TYPES = {SEVERAL: "multi_label_classification", NUMBER: "regression"}   # transformers' names


def logits_of(output) -> torch.Tensor:
    return output if torch.is_tensor(output) else output.logits


class Classifier:
    def __init__(self, model: nn.Module, preprocess: ImagePreprocessor | TextPreprocessor | AudioPreprocessor,
                 labels: list[str], source: str, kind: str):
        self.model = model
        self.preprocess = preprocess
        self.labels = list(labels)
        self.source = source          # the catalog name / Hub id / folder it came from
        self.kind = kind              # "transformers" | "sentence" | "timm": decides the saved format
        self.modality = preprocess.modality
        self.layout: Layout = find_layout(model, self.modality)
        self.frozen_blocks = 0
        self.lora = False
        self.unsure_below = 0.0       # top probability under which the answer is "not sure" (ftapp/unsure.py)
        self.task = ONE               # ftapp.tasks: one class per example, or several labels (one sigmoid each)
        self.thresholds: list[float] | None = None   # several labels: each label's decision threshold
        self.target_scale = (0.0, 1.0)   # a number: (mean, standard deviation) of the training values (see save)
        self.residual_interval: list[float] | None = None   # a number: 5th and 95th percentile of validation errors
        self._frozen_modules: list[nn.Module] = []

    # ---- freezing ------------------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        return self.layout.n_blocks

    def freeze(self, k: int) -> None:
        """Freeze the first k blocks (stem included); everything after them trains."""
        k = max(0, min(int(k), self.n_blocks))
        for p in self.model.parameters():
            p.requires_grad_(True)
        self._frozen_modules = [self.model.get_submodule(p) for p in self.layout.prefix_paths(k)]
        for m in self._frozen_modules:
            m.requires_grad_(False)
        self.frozen_blocks = k

    def train_mode(self) -> None:
        """Train mode, except frozen blocks: their BatchNorm statistics and dropout stay fixed,
        so they behave exactly as pre-trained (and as the cached prefix assumes)."""
        self.model.train()
        for m in self._frozen_modules:
            m.eval()

    def param_counts(self) -> tuple[int, int]:
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return trainable, total

    def freezing_summary(self) -> str:
        trainable, total = self.param_counts()
        k, n = self.frozen_blocks, self.n_blocks
        frozen = "none" if k == 0 else ("all blocks (only the new head trains)" if k == n
                                        else f"blocks 1–{k} of {n}")
        return f"Frozen: {frozen}. Trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.1f}%)."

    # ---- the head ------------------------------------------------------------------------
    @property
    def head(self) -> nn.Linear:
        """The linear layer that produces the class scores (a linear probe initialises it)."""
        return head_linear(self.model, len(self.labels))[1]

    @torch.no_grad()
    def set_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        head = self.head
        head.weight.copy_(weight.to(head.weight))
        head.bias.copy_(bias.to(head.bias))

    # ---- LoRA ----------------------------------------------------------------------------
    def add_lora(self, r: int = 8, alpha: int = 16, dropout: float = 0.05) -> None:
        """LoRA adapters on the linear/conv layers of the trainable blocks; the head trains fully.

        Uses peft's in-place injection so the model keeps its class (and its forward) and the
        cached-prefix surgery keeps working; `merge_lora` folds the adapters back in for export.
        """
        from peft import LoraConfig, inject_adapter_in_model

        trainable_paths = [p for block in self.layout.blocks[self.frozen_blocks:] for p in block]
        targets = [name for path in trainable_paths
                   for name, m in self.model.get_submodule(path).named_modules(prefix=path)
                   if isinstance(m, (nn.Linear, nn.Conv2d)) and (not isinstance(m, nn.Conv2d) or m.groups == 1)]
        head = [n for n, p in self.model.named_parameters() if p.requires_grad
                and not any(n.startswith(t + ".") for t in trainable_paths)]
        if targets:
            config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
            self.model = inject_adapter_in_model(config, self.model)
        for name, p in self.model.named_parameters():
            p.requires_grad_("lora_" in name or name in head)
        self.lora = True

    def merge_lora(self) -> None:
        if not self.lora:
            return
        from peft.tuners.lora import LoraLayer

        for name, module in list(self.model.named_modules()):
            if isinstance(module, LoraLayer):
                module.merge()
                parent, _, child = name.rpartition(".")
                setattr(self.model.get_submodule(parent) if parent else self.model, child, module.get_base_layer())
        self.lora = False

    # ---- dropout -------------------------------------------------------------------------
    def set_dropout(self, p: float) -> None:
        """Dropout in the trainable part and the head (frozen blocks run in eval mode anyway)."""
        for m in self.model.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
        if hasattr(self.model, "model") and hasattr(self.model.model, "drop_rate"):  # timm head
            self.model.model.drop_rate = p

    # ---- inference -----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def forward(self, batch: dict) -> torch.Tensor:
        return logits_of(self.model(**batch))

    @torch.no_grad()
    def predict_proba(self, items, batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """Class probabilities for raw items (texts, image paths or PIL images), batched."""
        chunks = [self.proba_encoded(self.preprocess.encode(items[i: i + batch_size]), batch_size)
                  for i in range(0, len(items), batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, len(self.labels))

    @torch.no_grad()
    def proba_encoded(self, encoded: list, batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """Probabilities for already tokenized / decoded examples (no second decode)."""
        self.model.eval()
        probs = torch.empty(len(encoded), len(self.labels))
        # Texts sorted by length: batches carry little padding. Rows go back to their places.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i])) if self.modality == "text" \
            else list(range(len(encoded)))
        for s in range(0, len(order), batch_size):
            wait_while_busy()   # in a training process the app started: while its server is busy
            idx = order[s: s + batch_size]
            batch = {k: v.to(self.device) for k, v in self.preprocess.collate([encoded[i] for i in idx]).items()}
            probs[idx] = TASKS[self.task].probs(self.forward(batch)).cpu()
        return probs

    def answers(self, probs: torch.Tensor) -> list[list[str]]:
        """Several labels per example: the labels at or above their thresholds, per example."""
        chosen = TASKS[self.task].predicted(probs.numpy(), self.thresholds)
        return [[self.labels[j] for j in row.nonzero()[0]] for row in chosen]

    def values(self, outputs: torch.Tensor) -> torch.Tensor:
        """A number per example: the head's outputs in the target's own unit."""
        mean, std = self.target_scale
        return outputs[:, 0] * std + mean

    def predict(self, items, top_k: int = 5) -> list[dict[str, float]]:
        """The top_k classes with their probabilities; several labels per example: every label's
        probability (each its own yes/no, so they do not add up to 1); a number: {"value": it}."""
        probs = self.predict_proba(items)
        if self.task == NUMBER:
            return [{VALUE: round(float(v), 6)} for v in self.values(probs)]
        k = min(top_k, len(self.labels)) if self.task == ONE else len(self.labels)
        result = []
        for row in probs:
            values, idx = row.topk(k)
            result.append({self.labels[i]: round(float(v), 6) for v, i in zip(values, idx)})
        return result

    # ---- saving --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """transformers models: save_pretrained + tokenizer/processor (loads in pipeline());
        sentence models: the encoder + tokenizer in the sentence-transformers / SetFit layout;
        timm models: safetensors + ftapp_model.json. Either way ftapp's loader reads it back."""
        self.merge_lora()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": 1, "kind": self.kind, "modality": self.modality, "labels": self.labels,
                "source": self.source, "unsure_below": self.unsure_below, "task": self.task}
        if self.task == SEVERAL:
            meta["thresholds"] = self.thresholds
        if self.task == NUMBER:
            meta["residual_interval"] = self.residual_interval
        if self.kind == "transformers" and self.task != ONE:   # pipeline(): a sigmoid per label, or the number as is
            self.model.config.problem_type = PROBLEM_TYPES[self.task]
        with self._in_own_unit():
            self._save_files(directory, meta)

    @contextlib.contextmanager
    def _in_own_unit(self):
        """A number per example: while saving, the head gives the target in its own unit (mean and
        standard deviation folded into its weights), so the saved model needs no scaling anywhere."""
        head, (mean, std) = self.head, self.target_scale
        if self.task != NUMBER or (mean, std) == (0.0, 1.0):
            yield
            return
        weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
        self.set_head(weight * std, bias * std + mean)
        try:
            yield
        finally:
            self.set_head(weight, bias)

    def _save_files(self, directory: Path, meta: dict) -> None:
        from safetensors.torch import save_file

        if self.kind == "sentence":
            net = self.model
            net.encoder.save_pretrained(directory, safe_serialization=True)
            self.preprocess.tokenizer.save_pretrained(directory)
            save_file({k: v.contiguous() for k, v in net.classifier.state_dict().items()}, str(directory / SENTENCE_HEAD))
            write_sentence_transformers_files(directory, net.config.hidden_size, net.pooling, self.preprocess.max_length)
            write_setfit_head(directory, net.classifier, self.labels, self.task)
            meta.update(max_length=self.preprocess.max_length, pooling=net.pooling.to_dict())
        elif self.kind == "transformers":
            self.model.save_pretrained(directory, safe_serialization=True)
            if self.modality == "text":
                self.preprocess.tokenizer.save_pretrained(directory)
                meta["max_length"] = self.preprocess.max_length
            else:   # pictures, sounds: the processor pipeline() reads, and what ftapp reads back
                self.preprocess.hf_processor.save_pretrained(directory)
                meta[self.modality] = self.preprocess.spec.to_dict()
        else:
            save_timm(self.model, directory, self.labels, self.preprocess.spec, PROBLEM_TYPES.get(self.task))
            meta["arch"] = self.model.arch
            meta["image"] = self.preprocess.spec.to_dict()
        (directory / MODEL_META).write_text(json.dumps(meta, indent=2))


def save_timm(net, directory: Path, labels: list[str], spec, problem_type: str | None = None) -> None:
    """timm's Hugging Face format (config.json with the architecture, label_names and a
    pretrained_cfg describing ftapp's own preprocessing + model.safetensors), so that
    `timm.create_model("local-dir:" + directory, pretrained=True)` and
    `transformers.pipeline("image-classification", model=directory)` (its timm wrapper) load it
    unchanged and see the pictures as ftapp does: squashed to the size, bilinear, the same mean/std.
    `problem_type` (several labels, a number) tells the pipeline to give each label's sigmoid, or
    the number as is, as it does for transformers' own models."""
    from timm.models._hub import save_for_hf

    model = net.model
    model.pretrained_cfg = {**(model.pretrained_cfg or {}), "input_size": (3, spec.size, spec.size),
                            "mean": tuple(spec.mean), "std": tuple(spec.std), "crop_pct": 1.0,
                            "crop_mode": "squash", "interpolation": "bilinear", "num_classes": len(labels)}
    model_args = {}
    eps = next((m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)), 1e-5)
    if net.ftapp_family == "timm-efficientnet" and eps != 1e-5:
        model_args["bn_eps"] = eps     # the bundled EfficientNet-Lite0 weights were trained with 1e-3
    save_for_hf(model, directory, model_config={"label_names": list(labels)}, model_args=model_args or None,
                safe_serialization=True)
    config = json.loads((directory / "config.json").read_text())
    # num_classes is already at the top level; a second one in model_args breaks transformers' timm wrapper
    config.get("model_args", {}).pop("num_classes", None)
    if not config.get("model_args"):
        config.pop("model_args", None)
    if problem_type:
        config["problem_type"] = problem_type
    (directory / "config.json").write_text(json.dumps(config, indent=2))
