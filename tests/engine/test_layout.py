"""Block layouts, freezing and the frozen-prefix cache on every supported family."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from conftest import make_tiny_image_model, make_tiny_text_model
from ftapp.models import BUNDLED_IMAGE, load_pretrained
from ftapp.train import prefix_cache

TEXTS = ["hello world", "a much longer sentence than the first one, with commas", "x"]


def _images():
    return [Image.new("RGB", (50, 40), (i * 60, 20, 200 - i * 50)) for i in range(3)]


@pytest.fixture(scope="module", params=["bert", "roberta", "distilbert", "vit", "resnet", "convnext", "efficientnet"])
def family_model(request, tmp_path_factory):
    fam = request.param
    if fam == "efficientnet":
        return fam, load_pretrained(BUNDLED_IMAGE, ["a", "b", "c"]), _images()
    folder = tmp_path_factory.mktemp(fam)
    if fam in ("bert", "roberta", "distilbert"):
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
        states, as_tuple = prefix_cache.compute_states(clf, enc, k, 2, torch.device("cpu"))
        with prefix_cache.bypass_prefix(clf, k, as_tuple), torch.no_grad():
            cached = clf.forward(prefix_cache.cached_batch(clf, states, [0, 1, 2], torch.device("cpu")))
        torch.testing.assert_close(cached, reference, atol=1e-5, rtol=1e-4)
    # and the model is whole again afterwards
    with torch.no_grad():
        torch.testing.assert_close(clf.forward(clf.preprocess.collate(enc)), reference)


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
