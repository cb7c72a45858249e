"""load_dataset end to end: zips, folders, image tables, modality choice, speed."""
from __future__ import annotations

import json
import os
import time

import pytest

from corpus import class_members, csv_text, make_zip, png_bytes, text_rows, write_tree
from ftapp.data import Dataset, Limits, load_dataset


def test_image_zip_any_depth(tmp_path):
    members = class_members({"cats": 5, "dogs": 6}, prefix="my photos/set1/")
    src = make_zip(tmp_path / "pets.zip", members)
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert rep.ok, rep.summary()
    assert rep.source == "pets.zip" and rep.modality == "image" and ds.modality == "image"
    assert rep.class_counts == {"cats": 5, "dogs": 6}
    assert ds.origins[0] == "pets.zip:my photos/set1/cats/img_0.png"
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in ds.items)
    assert all(os.path.realpath(p).startswith(os.path.realpath(tmp_path / "w")) for p in ds.items)


def test_image_folder_source(tmp_path):
    root = write_tree(tmp_path / "photos", class_members({"a": 5, "b": 5}))
    ds, rep = load_dataset(root, workdir=tmp_path / "w")
    assert rep.ok and rep.source == "photos" and ds.origins[0] == "photos/a/img_0.png"
    assert not (tmp_path / "w").exists() or not os.listdir(tmp_path / "w")  # folders are not copied


def test_text_folder_zip(tmp_path):
    members = {f"corpus/{c}/{i}.txt": f"{c} document {i}\nsecond line".encode() for c in ("spam", "ham")
               for i in range(5)}
    members["corpus/README.md"] = b"about"
    ds, rep = load_dataset(make_zip(tmp_path / "t.zip", members), workdir=tmp_path / "w")
    assert rep.ok and ds.modality == "text"
    assert ds.items[0] == "ham document 0\nsecond line" and ds.labels[0] == "ham"
    assert any("README.md" in p.where for p in rep.skipped)


def test_text_folder_cp1252_file_warned(tmp_path):
    members = {f"{c}/{i}.txt": f"{c} café {i}".encode("cp1252") for c in ("a", "b") for i in range(5)}
    ds, rep = load_dataset(make_zip(tmp_path / "t.zip", members), workdir=tmp_path / "w")
    assert rep.ok and "café" in ds.items[0]
    assert len(rep.warnings) == 1 and "10 file(s)" in rep.warnings[0].message


def test_modality_decided_by_majority_and_can_be_forced(tmp_path):
    members = class_members({"a": 5, "b": 5})
    members.update({f"{c}/note{i}.txt": b"words" for c in ("a", "b") for i in range(2)})
    src = make_zip(tmp_path / "m.zip", members)
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert ds.modality == "image" and len(ds) == 10
    ds, rep = load_dataset(src, workdir=tmp_path / "w", modality="text")
    assert ds.modality == "text" and len(ds) == 4
    with pytest.raises(ValueError):
        load_dataset(src, workdir=tmp_path / "w", modality="video")


def test_image_table_in_zip_paths_relative_to_table_or_zip_root(tmp_path):
    members = class_members({"cats": 5, "dogs": 5}, prefix="data/imgs/")
    names = list(members)
    lines = ["filename,species"]
    lines += [f"imgs/{n.split('imgs/')[1]},{n.split('/')[2]}" for n in names[:5]]  # relative to table
    lines += [f"{n},{n.split('/')[2]}" for n in names[5:]]  # relative to the zip's top
    members["data/meta.csv"] = ("\n".join(lines) + "\n").encode()
    members["data/imgs/extra/unlisted.png"] = png_bytes()
    ds, rep = load_dataset(make_zip(tmp_path / "z.zip", members), workdir=tmp_path / "w")
    assert rep.ok, rep.summary()
    assert rep.modality == "image" and rep.path_column == "filename" and rep.label_column == "species"
    assert rep.class_counts == {"cats": 5, "dogs": 5}
    assert ds.origins[0].startswith("data/meta.csv row 2")
    assert any("not listed in the table" in w.message and "unlisted.png" in w.where for w in rep.warnings)


def test_image_table_local_paths(tmp_path):
    root = write_tree(tmp_path / "pics", class_members({"x": 5, "y": 5}))
    rows = [(str(root / f"{c}/img_{i}.png"), c) for c in ("x", "y") for i in range(5)]
    csv_path = tmp_path / "elsewhere" / "list.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(csv_text(rows, header=("image", "label")))
    ds, rep = load_dataset(csv_path, workdir=tmp_path / "w")
    assert rep.ok and len(ds) == 10  # absolute paths fine locally
    ds, rep = load_dataset(csv_path, workdir=tmp_path / "w", limits=Limits(allow_local_paths=False))
    assert ds is None and len(rep.skipped) == 10
    assert "uploaded together with the table" in rep.skipped[0].message


def test_image_table_forced_without_path_column(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(csv_text(text_rows()))
    ds, rep = load_dataset(p, workdir=tmp_path / "w", modality="image")
    assert ds is None and "picture file names" in rep.errors[0].message


def test_text_table_inside_zip(tmp_path):
    src = make_zip(tmp_path / "z.zip", {"folder/data.csv": csv_text(text_rows()).encode()})
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert rep.ok and ds.modality == "text" and ds.origins[0] == "folder/data.csv row 2"


def test_several_tables_without_class_folders_is_error(tmp_path):
    src = make_zip(tmp_path / "z.zip", {"a.csv": b"text,label\n", "b.csv": b"text,label\n"})
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert ds is None and "several tables" in rep.errors[0].message


@pytest.mark.parametrize("name,data,phrase", [
    ("photo.jpg", png_bytes(), "single picture"),
    ("model.bin", b"\x00\x01", "cannot be used"),
    ("missing.csv", None, "could not be found"),
    ("empty.zip", b"PK\x05\x06" + b"\x00" * 18, "contains no files"),
])
def test_unusable_sources(tmp_path, name, data, phrase):
    p = tmp_path / name
    if data is not None:
        p.write_bytes(data)
    ds, rep = load_dataset(p, workdir=tmp_path / "w")
    assert ds is None and phrase in rep.errors[0].message and rep.errors[0].where == name


def test_all_images_loose_at_top(tmp_path):
    src = make_zip(tmp_path / "z.zip", {f"img{i}.png": png_bytes() for i in range(4)})
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert ds is None and "not inside class folders" in rep.errors[0].message


def test_report_serialises_and_summarises(tmp_path):
    src = make_zip(tmp_path / "z.zip", {**class_members({"a": 5, "b": 2}), "a/bad.png": b"xx"})
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["ok"] is True and d["class_counts"] == {"a": 5, "b": 2} and d["n_skipped"] == 1
    s = rep.summary()
    assert "a/bad.png" in s and "class 'b'" in s and "Ready to train" in s


def test_workdir_reused_for_several_uploads(tmp_path):
    src = make_zip(tmp_path / "z.zip", class_members({"a": 5, "b": 5}))
    ds1, _ = load_dataset(src, workdir=tmp_path / "w")
    ds2, _ = load_dataset(src, workdir=tmp_path / "w")
    assert ds1.items[0] != ds2.items[0]  # each call unpacks into its own sub-folder
    assert os.path.isfile(ds1.items[0]) and os.path.isfile(ds2.items[0])


def test_1500_small_pngs_are_fast(tmp_path):
    members = class_members({f"c{k}": 150 for k in range(10)}, size=(32, 32))
    src = make_zip(tmp_path / "many.zip", members)
    t0 = time.perf_counter()
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    elapsed = time.perf_counter() - t0
    assert rep.ok and len(ds) == 1500
    assert elapsed < 6.0, f"ingestion took {elapsed:.1f}s"


def test_dataset_helpers():
    ds = Dataset("text", ["a", "b", "c"], ["x", "y", "x"], ["r1", "r2", "r3"])
    assert ds.classes == ["x", "y"] and len(ds) == 3
    sub = ds.subset([2, 0])
    assert sub.items == ["c", "a"] and sub.labels == ["x", "x"] and sub.origins == ["r3", "r1"]


def test_folder_caps(tmp_path):
    root = write_tree(tmp_path / "photos", class_members({"a": 5, "b": 5}))
    ds, rep = load_dataset(root, workdir=tmp_path / "w", limits=Limits(max_members=8))
    assert ds is None and "more than 8 files" in rep.errors[0].message
    ds, rep = load_dataset(root, workdir=tmp_path / "w", limits=Limits(max_upload_bytes=500))
    assert ds is None and "more than the" in rep.errors[0].message and rep.errors[0].where == "photos"


def test_unpacked_zip_only_bound_by_archive_caps(tmp_path):
    # 12 KB of zip that unpacks to ~120 KB: fine as long as the zip itself is under max_upload_bytes
    members = {f"{c}/{i}.bmp": _bmp() for c in ("a", "b") for i in range(5)}
    src = make_zip(tmp_path / "z.zip", members)
    assert src.stat().st_size < 20_000
    ds, rep = load_dataset(src, workdir=tmp_path / "w", limits=Limits(max_upload_bytes=20_000))
    assert rep.ok, rep.summary()


def _bmp():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "BMP")
    return buf.getvalue()


def test_hosted_folder_symlink_out_is_skipped(tmp_path):
    root = write_tree(tmp_path / "photos", class_members({"a": 5, "b": 5}))
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    os.symlink(secret, root / "a" / "link.png")
    ds, rep = load_dataset(root, workdir=tmp_path / "w", limits=Limits(allow_local_paths=False))
    assert rep.ok and len(ds) == 10
    assert rep.skipped[0].where == "a/link.png" and "outside the upload" in rep.skipped[0].message
    ds, rep = load_dataset(root, workdir=tmp_path / "w")
    assert len(ds) == 11  # locally, shortcuts are followed


def test_chosen_path_column(tmp_path):
    root = write_tree(tmp_path / "pics", class_members({"x": 5, "y": 5}))
    rows = [(f"{c}/img_{i}.png", c, "note") for c in ("x", "y") for i in range(5)]
    (root / "t.csv").write_text(csv_text(rows, header=("where", "kind", "comment")))
    ds, rep = load_dataset(root / "t.csv", workdir=tmp_path / "w", path_column="where", label_column="kind")
    assert rep.ok and rep.path_column == "where" and len(ds) == 10
    ds, rep = load_dataset(root / "t.csv", workdir=tmp_path / "w", path_column="nope")
    assert ds is None and "no column named 'nope'" in rep.errors[0].message


def test_table_without_file_names_next_to_class_folders_is_ignored(tmp_path):
    members = class_members({"a": 5, "b": 5})
    members["notes.csv"] = csv_text(text_rows()).encode()  # a text table, not a picture list
    ds, rep = load_dataset(make_zip(tmp_path / "z.zip", members), workdir=tmp_path / "w")
    assert rep.ok and ds.modality == "image" and len(ds) == 10
    assert rep.warnings[0].where == "notes.csv" and "class folders" in rep.warnings[0].message
    assert not rep.skipped


def test_image_table_finds_unique_file_by_name(tmp_path):
    members = {f"photos/{c}/{c}_{i}.png": png_bytes(color=(i, 9, 9)) for c in ("ant", "bee") for i in range(5)}
    members["photos/ant/dup.png"] = png_bytes()
    members["photos/bee/dup.png"] = png_bytes()
    rows = [(f"{c.upper()}_{i}.PNG", c) for c in ("ant", "bee") for i in range(5)] + [("dup.png", "ant")]
    members["list.csv"] = csv_text(rows, header=("file", "label")).encode()
    ds, rep = load_dataset(make_zip(tmp_path / "z.zip", members), workdir=tmp_path / "w")
    assert rep.ok and len(ds) == 10, rep.summary()
    assert any("same name was found elsewhere" in w.message and w.where == "list.csv row 2" for w in rep.warnings)
    assert any(p.where == "list.csv row 12" and "was not found" in p.message for p in rep.skipped)  # ambiguous


def test_zip_without_extension_recognised(tmp_path):
    src = make_zip(tmp_path / "upload", class_members({"a": 5, "b": 5}))
    ds, rep = load_dataset(src, workdir=tmp_path / "w")
    assert rep.ok and len(ds) == 10 and ds.origins[0].startswith("upload:")
