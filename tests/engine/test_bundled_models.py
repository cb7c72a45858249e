"""The two bundled real models load offline and behave like their pre-trained selves."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ftapp.models import BUNDLED_IMAGE, BUNDLED_TEXT, load_pretrained


def test_efficientnet_weights_map_onto_timm_a_real_cat_photo_is_a_cat():
    """The EfficientNet-PyTorch state dict is loaded into timm's layout by position. If the
    mapping were off by one tensor, a real photo would not come out as a cat."""
    from skimage import data

    clf = load_pretrained(BUNDLED_IMAGE, [])          # no labels: keep the ImageNet head
    assert len(clf.labels) == 1000
    probs = clf.predict_proba([Image.fromarray(data.chelsea())])[0]
    top = probs.argmax().item()
    assert top in range(281, 286), top               # ImageNet 281–285 are the domestic cats
    assert probs[281:286].sum() > 0.8


def test_efficientnet_new_head_sized_to_classes():
    clf = load_pretrained(BUNDLED_IMAGE, ["ok", "crack", "dent"])
    assert clf.model.model.classifier.out_features == 3
    assert clf.n_blocks == 8


def test_minilm_loads_offline_with_new_head_and_label_maps():
    clf = load_pretrained(BUNDLED_TEXT, ["neg", "pos"])
    assert clf.model.config.id2label == {0: "neg", 1: "pos"}
    assert clf.model.config.label2id == {"neg": 0, "pos": 1}
    assert clf.n_blocks == 6
    # the pre-trained encoder is really there: similar sentences get similar embeddings
    enc = clf.preprocess.encode(["the cat sat on the mat", "a cat was sitting on the mat", "stock markets fell"])
    with torch.no_grad():
        h = clf.model.embed(**clf.preprocess.collate(enc))
    sim = torch.nn.functional.cosine_similarity(h[0:1], h[1:]).numpy()
    assert sim[0] > sim[1] + 0.1, sim


def test_saved_efficientnet_reloads_with_identical_predictions(tmp_path):
    """A reloaded timm model must compute exactly what was trained (BatchNorm eps included)."""
    from ftapp.models import load_trained

    clf = load_pretrained(BUNDLED_IMAGE, ["a", "b", "c"])
    images = [Image.fromarray(np.full((60, 60, 3), v, dtype=np.uint8)) for v in (10, 120, 250)]
    before = clf.predict_proba(images)
    clf.save(tmp_path / "m")
    after = load_trained(tmp_path / "m").predict_proba(images)
    torch.testing.assert_close(after, before)
