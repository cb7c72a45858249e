"""Heads that read what a sentence-embedding model was trained to produce, and the head's linear
layer of any classifier (the layer a linear probe initialises).

A sentence-transformers checkpoint (modules.json: Transformer → Pooling → [Normalize]) was trained
so that the *pooled* token states (their mean, or the first token) are the embedding. A transformers
`…ForSequenceClassification` head instead reads the first token through a pooler that the
embedding training never used. `SentenceClassifier` is the encoder + the checkpoint's own pooling
+ one linear layer; it saves in the sentence-transformers / SetFit layout, so the export loads with
`SetFitModel.from_pretrained` (and its encoder with `SentenceTransformer`) without ftapp.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ftapp.train.config import TASKS


@dataclass(frozen=True)
class SentencePooling:
    mode: str            # "mean" | "cls"
    normalize: bool      # L2-normalised embeddings (a Normalize module follows the pooling)

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_pooling(folder: str | os.PathLike) -> SentencePooling | None:
    """The pooling a sentence-transformers checkpoint folder declares, or None if it is not one
    (or pools in a way this head does not reproduce)."""
    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return None
    kinds = [m.get("type", "") for m in modules]
    pool = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    if pool is None or not kinds or not kinds[0].endswith("Transformer"):
        return None
    try:
        cfg = json.loads((folder / pool.get("path", "1_Pooling") / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if cfg.get("pooling_mode_mean_tokens") and not cfg.get("pooling_mode_cls_token"):
        mode = "mean"
    elif cfg.get("pooling_mode_cls_token") and not cfg.get("pooling_mode_mean_tokens"):
        mode = "cls"
    else:
        return None
    if any(k.endswith(("Dense", "LayerNorm")) for k in kinds):
        return None        # extra trained layers after pooling: not reproduced here
    return SentencePooling(mode, any(k.endswith("Normalize") for k in kinds))


class SentenceClassifier(nn.Module):
    """encoder → pooling (mean over real tokens, or the first token) → [L2 norm] → dropout → linear."""

    base_model_prefix = "encoder"    # where find_layout looks for embeddings and layers

    def __init__(self, encoder: nn.Module, n_labels: int, pooling: SentencePooling, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None      # the encoder's own pooler is never used here
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, n_labels)

    @property
    def config(self):
        return self.encoder.config

    def embed(self, input_ids=None, attention_mask=None, inputs_embeds=None) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds).last_hidden_state
        if self.pooling.mode == "cls":
            pooled = h[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(h.dtype) if attention_mask is not None else torch.ones_like(h[..., :1])
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1) if self.pooling.normalize else pooled

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **_ignored) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(input_ids, attention_mask, inputs_embeds)))


def head_linear(model: nn.Module, n_labels: int) -> tuple[str, nn.Linear]:
    """The classifier's last linear layer (the one producing the class scores): what a linear probe
    initialises. Found by shape, so it works for every family (BERT's classifier, RoBERTa's
    out_proj, ResNet's classifier[1], timm's classifier …)."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == n_labels:
            found = (name, module)
    if found is None:
        raise ValueError("no linear layer with one output per class")   # a model ftapp did not build
    return found


# ---- the sentence-transformers / SetFit layout --------------------------------------------------

def write_sentence_transformers_files(directory: Path, hidden: int, pooling: SentencePooling,
                                      max_length: int) -> None:
    """modules.json & co, so `SentenceTransformer(directory)` loads the saved encoder with this pooling."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if pooling.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (directory / "2_Normalize").mkdir(exist_ok=True)
    (directory / "modules.json").write_text(json.dumps(modules, indent=2))
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": pooling.mode == "cls",
        "pooling_mode_mean_tokens": pooling.mode == "mean", "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False}, indent=2))
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_length,
                                                                    "do_lower_case": False}, indent=2))


def write_setfit_head(directory: Path, classifier: nn.Linear, labels: list[str], task: str = TASKS.single) -> None:
    """A scikit-learn LogisticRegression holding exactly the trained linear layer, as SetFit saves
    its head (model_head.pkl, written with joblib), plus config_setfit.json. predict_proba of that
    head is the softmax of the same scores, so SetFitModel's predictions equal ftapp's. Several
    labels per example (`task` "multi"): a one-vs-rest head of one binary regression per label (SetFit's
    "one-vs-rest" strategy), whose predict_proba is the sigmoid of each label's score. A number
    (`task` "regression"): a LinearRegression, whose predict is the number. ftapp itself never reads
    the pickle back (it loads the head from safetensors)."""
    import joblib
    import numpy as np

    w = classifier.weight.detach().float().cpu().numpy().astype(np.float64)
    b = classifier.bias.detach().float().cpu().numpy().astype(np.float64)
    if task == TASKS.multi:
        head = _one_vs_rest(w, b)
    elif task == TASKS.regression:
        from sklearn.linear_model import LinearRegression

        head = LinearRegression()
        head.coef_, head.intercept_, head.n_features_in_ = w[0], float(b[0]), w.shape[1]
    else:
        if len(labels) == 2:   # scikit-learn's binary form: one row, scores for the second class
            w, b = (w[1] - w[0])[None, :], np.array([b[1] - b[0]])
        head = _logistic(w, b, np.arange(len(labels)))   # SetFit maps class indices to config_setfit.json labels
    joblib.dump(head, directory / "model_head.pkl")
    names = None if task == TASKS.regression else list(labels)   # a number: SetFit returns it as it is
    (directory / "config_setfit.json").write_text(json.dumps({"labels": names, "normalize_embeddings": False},
                                                             indent=2))


def _logistic(w, b, classes):
    """A fitted-looking scikit-learn LogisticRegression with these weights."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression()
    head.coef_, head.intercept_, head.classes_, head.n_features_in_ = w, b, classes, w.shape[1]
    return head


def _one_vs_rest(w, b):
    """scikit-learn's OneVsRestClassifier over 0/1 label rows, one binary regression per label."""
    import numpy as np
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import LabelBinarizer

    head = OneVsRestClassifier(_logistic(w[:1], b[:1], np.array([0, 1])))
    head.estimators_ = [_logistic(w[j:j + 1], b[j:j + 1], np.array([0, 1])) for j in range(len(w))]
    head.label_binarizer_ = LabelBinarizer(sparse_output=True).fit(np.eye(len(w), dtype=int))
    head.n_features_in_ = w.shape[1]
    return head
