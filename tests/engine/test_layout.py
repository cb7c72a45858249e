"""Block layouts, freezing and the frozen-prefix cache on every supported family."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from conftest import make_tiny_image_model, make_tiny_sentence_model, make_tiny_text_model, write_tone
from ftapp.models import BUNDLED_IMAGE, load_pretrained
from ftapp.train import prefix_cache

TEXTS = ["hello world", "a much longer sentence than the first one, with commas", "x"]


def _images():
    return [Image.new("RGB", (50, 40), (i * 60, 20, 200 - i * 50)) for i in range(3)]


TEXT_FAMILIES = ["bert", "roberta", "distilbert", "xlm-roberta", "deberta-v2", "modernbert"]
IMAGE_FAMILIES = ["vit", "resnet", "convnext", "dinov2", "convnextv2"]


def _tiny_ast(folder):
    """The Audio Spectrogram Transformer (a ViT over a recording's spectrogram) at toy size."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    config = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       num_mel_bins=16, max_length=48, num_labels=2)
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=16, max_length=48).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=TEXT_FAMILIES + ["sentence"] + IMAGE_FAMILIES + ["efficientnet", "ast"])
def family_model(request, tmp_path_factory):
    fam = request.param
    if fam == "efficientnet":
        return fam, load_pretrained(BUNDLED_IMAGE, ["a", "b", "c"]), _images()
    folder = tmp_path_factory.mktemp(fam)
    if fam == "ast":
        clips = [str(write_tone(folder / f"{hz}.wav", hz, seconds=0.4)) for hz in (220, 880, 3000)]
        return fam, load_pretrained(str(_tiny_ast(folder / "model")), ["a", "b", "c"], modality="audio"), clips
    if fam == "sentence":
        return fam, load_pretrained(str(make_tiny_sentence_model(folder)), ["a", "b", "c"], modality="text"), TEXTS
    if fam in TEXT_FAMILIES:
        return fam, load_pretrained(str(make_tiny_text_model(folder, fam)), ["a", "b", "c"], modality="text"), TEXTS
    return fam, load_pretrained(str(make_tiny_image_model(folder, fam)), ["a", "b", "c"], modality="image"), _images()


def test_layout_is_known_family_with_cache_support(family_model):
    fam, clf, _ = family_model
    assert clf.layout.family != "generic", fam
    assert clf.layout.input_key is not None
    assert clf.n_blocks == (8 if fam == "efficientnet" else 2)
    assert len(clf.layout.block_names) == clf.n_blocks


def test_freezing_more_blocks_trains_fewer_parameters(family_model):
    _, clf, _ = family_model
    counts = []
    for k in range(clf.n_blocks + 1):
        clf.freeze(k)
        counts.append(clf.param_counts()[0])
    total = clf.param_counts()[1]
    assert counts[0] == total
    assert all(a > b for a, b in zip(counts, counts[1:]))   # strictly fewer each block
    head = sum(p.numel() for p in clf.model.parameters() if p.requires_grad)
    assert 0 < head < total * 0.2                           # head only is small but trains


def test_cached_prefix_gives_the_same_logits_for_every_k(family_model):
    """The cache is only an optimisation: training on cached states must see exactly what the
    full model computes."""
    _, clf, items = family_model
    enc = clf.preprocess.encode(items)
    clf.model.eval()
    with torch.no_grad():
        reference = clf.forward(clf.preprocess.collate(enc))
    for k in range(1, clf.n_blocks + 1):
        clf.freeze(k)
        frozen = prefix_cache.compute_states(clf, enc, [k], 2, torch.device("cpu"))
        with prefix_cache.bypass_prefix(clf, k, frozen.as_tuple), torch.no_grad():
            cached = clf.forward(prefix_cache.cached_batch(clf, frozen.states[k], [0, 1, 2], torch.device("cpu")))
        torch.testing.assert_close(cached, reference, atol=1e-5, rtol=1e-4)
    # and the model is whole again afterwards
    with torch.no_grad():
        torch.testing.assert_close(clf.forward(clf.preprocess.collate(enc)), reference)


def test_one_pass_gives_every_boundary_and_the_head_inputs(family_model):
    """All boundaries and the probe's features in one forward equal separate passes, and the head
    applied to those features gives the model's own logits."""
    _, clf, items = family_model
    clf.freeze(0)
    enc = clf.preprocess.encode(items)
    ks = list(range(1, clf.n_blocks + 1))
    both = prefix_cache.compute_states(clf, enc, ks, 2, torch.device("cpu"), head_inputs=True)
    for k in ks:
        alone = prefix_cache.compute_states(clf, enc, [k], 2, torch.device("cpu")).states[k]
        for a, b in zip(alone if isinstance(alone, list) else [alone], both.states[k] if isinstance(alone, list)
                        else [both.states[k]]):
            torch.testing.assert_close(a, b)
    with torch.no_grad():
        logits = clf.forward(clf.preprocess.collate(enc))
        torch.testing.assert_close(clf.head(both.head_inputs), logits, atol=1e-5, rtol=1e-4)


def test_frozen_batchnorm_stays_in_eval_mode():
    clf = load_pretrained(BUNDLED_IMAGE, ["a", "b"])
    clf.freeze(3)
    clf.train_mode()
    frozen_bn = [m for p in clf.layout.prefix_paths(3) for m in clf.model.get_submodule(p).modules()
                 if isinstance(m, torch.nn.BatchNorm2d)]
    later_bn = [m for m in clf.model.get_submodule("model.blocks.6").modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen_bn and all(not m.training for m in frozen_bn)
    assert later_bn and all(m.training for m in later_bn)


def test_lora_trains_adapters_and_head_only_then_merges(tiny_text_model):
    clf = load_pretrained(tiny_text_model, ["a", "b"], modality="text")
    clf.freeze(1)
    clf.add_lora(r=4)
    names = [n for n, p in clf.model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in names) and any("classifier" in n for n in names)
    assert not any("lora_" in n and ".layer.0." in n for n in names)   # frozen block: no adapters
    assert all("lora_" in n or "classifier" in n or "pooler" in n for n in names)
    enc = clf.preprocess.encode(TEXTS)
    with torch.no_grad():
        for n, p in clf.model.named_parameters():
            if "lora_B" in n:
                p.normal_()                      # make the adapters matter
        clf.model.eval()
        before = clf.forward(clf.preprocess.collate(enc))
        clf.merge_lora()
        after = clf.forward(clf.preprocess.collate(enc))
    assert not any("lora_" in n for n, _ in clf.model.named_parameters())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("task", ["multi", "regression"])
def test_a_timm_picture_model_of_several_labels_or_a_number_loads_in_pipeline_as_such(tmp_path, task):
    """timm's format carries the task (config.json problem_type): transformers' image pipeline then
    gives each label's sigmoid, or the number as is, where it would otherwise give a softmax."""
    import timm
    from timm.models._hub import save_for_hf
    from transformers import pipeline

    save_for_hf(timm.create_model("resnet18", pretrained=False, num_classes=10), tmp_path / "m", safe_serialization=True)
    labels = ["a", "b", "c"] if task == "multi" else ["value"]
    clf = load_pretrained(str(tmp_path / "m"), labels)
    clf.task = task
    if task == "multi":
        clf.thresholds = [0.5, 0.5, 0.5]
    clf.save(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["problem_type"] == {
        "multi": "multi_label_classification", "regression": "regression"}[task]
    pictures = [Image.new("RGB", (224, 224), (i * 60, 20, 200 - i * 50)) for i in range(3)]
    ours = clf.predict_proba(pictures)
    answers = pipeline("image-classification", model=str(tmp_path / "saved"), top_k=None)(pictures)
    for mine, theirs in zip(ours, answers):
        by_label = {a["label"]: a["score"] for a in theirs}
        assert [by_label[label] for label in labels] == pytest.approx(mine.tolist(), abs=1e-4)


def test_timm_models_load_generically_by_their_own_layer_groups(tmp_path):
    """A timm model saved in timm's Hugging Face format (what a `timm/…` Hub id downloads) loads
    without transformers, splits into timm's own layer groups, freezes by them and saves/reloads."""
    import timm
    from timm.models._hub import save_for_hf

    from ftapp.models import load_trained

    save_for_hf(timm.create_model("resnet18", pretrained=False, num_classes=10), tmp_path / "m", safe_serialization=True)
    clf = load_pretrained(str(tmp_path / "m"), ["a", "b", "c"])
    assert clf.kind == "timm" and clf.layout.family == "timm" and clf.n_blocks == 4
    assert clf.layout.input_key is None                      # not sequential in general: no prefix cache
    counts = []
    for k in range(clf.n_blocks + 1):
        clf.freeze(k)
        counts.append(clf.param_counts()[0])
    assert all(a > b for a, b in zip(counts, counts[1:])) and counts[-1] == 512 * 3 + 3   # head only
    images = _images()
    before = clf.predict_proba(images)
    clf.save(tmp_path / "saved")
    torch.testing.assert_close(load_trained(tmp_path / "saved").predict_proba(images), before)
