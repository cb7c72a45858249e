"""train_val_split and find_leaks."""
from __future__ import annotations

from collections import Counter

import pytest

from corpus import class_members, make_zip, png_bytes
from ftapp.data import Dataset, find_leaks, load_dataset, train_val_split


def text_ds(counts: dict[str, int]) -> Dataset:
    items, labels = [], []
    for c, n in counts.items():
        for i in range(n):
            items.append(f"{c} text {i}")
            labels.append(c)
    return Dataset("text", items, labels, [f"d.csv row {i + 2}" for i in range(len(items))])


def test_stratified_and_complete():
    ds = text_ds({"a": 50, "b": 30, "c": 20})
    tr, va, probs = train_val_split(ds, 0.2, seed=1)
    assert probs == []
    assert len(tr) + len(va) == 100 and len(va) == 20
    assert sorted(tr.items + va.items) == sorted(ds.items)
    assert Counter(va.labels) == {"a": 10, "b": 6, "c": 4}
    assert all(o in ds.origins for o in va.origins)


def test_deterministic_and_seeded():
    ds = text_ds({"a": 40, "b": 40})
    a = train_val_split(ds, 0.25, seed=3)[1].items
    assert a == train_val_split(ds, 0.25, seed=3)[1].items
    assert a != train_val_split(ds, 0.25, seed=4)[1].items


def test_singleton_class_goes_to_train_with_warning():
    ds = text_ds({"a": 10, "b": 10, "rare": 1})
    tr, va, probs = train_val_split(ds)
    assert "rare" in tr.labels and "rare" not in va.labels
    assert len(probs) == 1 and probs[0].level == "warning" and "'rare'" in probs[0].where


@pytest.mark.parametrize("counts,frac", [
    ({"a": 100, "b": 2, "c": 2, "d": 3}, 0.05),
    ({"a": 2, "b": 2}, 0.2),
    ({"a": 50, "b": 2}, 0.01),
    ({f"c{i}": 2 + i % 3 for i in range(30)}, 0.1),
    ({"a": 3, "b": 3}, 0.9),
])
def test_every_class_with_two_examples_on_both_sides(counts, frac):
    ds = text_ds(counts)
    tr, va, _ = train_val_split(ds, frac, seed=0)
    for c in counts:
        assert c in va.labels, c
        assert c in tr.labels, c


def test_only_singletons():
    ds = text_ds({"a": 1, "b": 1})
    tr, va, probs = train_val_split(ds)
    assert len(tr) == 2 and len(va) == 0 and probs


def test_bad_fraction():
    with pytest.raises(ValueError):
        train_val_split(text_ds({"a": 5, "b": 5}), 1.0)


def test_find_leaks_text_case_and_space_insensitive():
    tr = Dataset("text", ["Hello World ", "other"], ["a", "b"], ["r2", "r3"])
    va = Dataset("text", ["hello world", "new"], ["a", "b"], ["r4", "r5"])
    leaks = find_leaks(tr, va)
    assert len(leaks) == 1 and leaks[0].level == "warning" and leaks[0].where == "r4"
    assert "1 validation texts" in leaks[0].message and "r2" in leaks[0].message
    assert find_leaks(tr, Dataset("text", ["fresh"], ["a"], ["r9"])) == []


def test_find_leaks_images_by_bytes(tmp_path):
    members = class_members({"a": 5, "b": 5})
    members["b/copy_of_a0.png"] = members["a/img_0.png"]  # same bytes, different name
    ds, rep = load_dataset(make_zip(tmp_path / "z.zip", members), workdir=tmp_path / "w")
    assert rep.ok
    i = ds.origins.index("z.zip:a/img_0.png")
    j = ds.origins.index("z.zip:b/copy_of_a0.png")
    leaks = find_leaks(ds.subset([i]), ds.subset([j]))
    assert leaks and "identical" in leaks[0].message and leaks[0].where == "z.zip:b/copy_of_a0.png"
    others = [k for k in range(len(ds)) if k not in (i, j)]
    assert find_leaks(ds.subset(others), ds.subset([j])) == []


def test_split_of_loaded_images_keeps_paths(tmp_path):
    ds, _ = load_dataset(make_zip(tmp_path / "z.zip", {**class_members({"a": 6, "b": 6}),
                                                       "a/x.png": png_bytes((2, 2))}), workdir=tmp_path / "w")
    tr, va, _ = train_val_split(ds)
    assert set(tr.items) | set(va.items) == set(ds.items) and not set(tr.items) & set(va.items)
