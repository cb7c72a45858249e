"""open_image / check_image on real files of every mode."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from corpus import huge_png_header, png_bytes, truncated_jpeg
from ftapp.data import IMAGE_EXTENSIONS, open_image
from ftapp.data.images import check_image


def save(tmp_path, im: Image.Image, name: str, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_extensions():
    assert IMAGE_EXTENSIONS == {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@pytest.mark.parametrize("mode,name,colour", [
    ("L", "grey.png", 128),
    ("1", "bw.png", 1),
    ("CMYK", "cmyk.jpg", (0, 255, 255, 0)),
    ("RGB", "rgb.webp", (10, 200, 30)),
    ("RGB", "rgb.bmp", (10, 200, 30)),
    ("P", "pal.gif", 3),
    ("RGB", "rgb.tiff", (10, 200, 30)),
])
def test_open_image_any_mode_gives_rgb(tmp_path, mode, name, colour):
    p = save(tmp_path, Image.new(mode, (6, 4), colour), name)
    im = open_image(p)
    assert im.mode == "RGB" and im.size == (6, 4)
    assert check_image(p) is None


def test_transparent_areas_become_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.putpixel((0, 0), (0, 0, 255, 255))  # one opaque blue pixel
    im = open_image(save(tmp_path, rgba, "a.png"))
    assert im.getpixel((1, 1)) == (255, 255, 255)
    assert im.getpixel((0, 0)) == (0, 0, 255)

    la = Image.new("LA", (2, 2), (0, 0))
    assert open_image(save(tmp_path, la, "la.png")).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (3, 3), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.putpixel((1, 1), 1)
    path = tmp_path / "t.png"
    p.save(path, transparency=0)
    im = open_image(path)
    assert im.getpixel((0, 0)) == (255, 255, 255)  # transparent index -> white
    assert im.getpixel((1, 1)) == (255, 0, 0)


def test_16bit_is_scaled_not_clipped(tmp_path):
    arr = np.full((4, 4), 32896, dtype=np.uint16)  # mid grey in 16 bits
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    assert Image.open(path).mode.startswith("I")
    im = open_image(path)
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == (128, 128, 128)  # PIL's plain convert would give white


def test_exif_orientation_applied(tmp_path):
    im = Image.new("RGB", (20, 10), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    im.save(path, exif=exif.tobytes())
    assert Image.open(path).size == (20, 10)
    assert open_image(path).size == (10, 20)


def test_open_image_returns_detached_image(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes((5, 5)))
    im = open_image(path)
    path.unlink()  # the file handle must be closed and the pixels loaded
    assert im.getpixel((0, 0)) == (200, 30, 30)


@pytest.mark.parametrize("data,phrase", [
    (b"", "empty"),
    (b"not an image", "not a picture"),
    (None, "damaged"),  # truncated jpeg
    (huge_png_header(), "too large"),
])
def test_check_and_open_bad_files(tmp_path, data, phrase):
    path = tmp_path / ("bad.jpg" if data is None else "bad.png")
    path.write_bytes(truncated_jpeg() if data is None else data)
    reason = check_image(path)
    assert reason and phrase in reason
    with pytest.raises(ValueError) as e:
        open_image(path)
    assert "bad." in str(e.value)


def test_pixel_limit_checked_on_header(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_bytes((300, 300)))
    assert check_image(path, max_pixels=1000) and "300 x 300" in check_image(path, max_pixels=1000)
    with pytest.raises(ValueError, match="too large"):
        open_image(path, max_pixels=1000)
    assert check_image(path) is None


def test_pil_bomb_warning_becomes_reason_not_warning(tmp_path, recwarn):
    # between PIL's own limit and twice it, PIL only *warns*; we must report, not warn or crash
    limit = Image.MAX_IMAGE_PIXELS
    side = int((limit * 1.2) ** 0.5) + 1
    path = tmp_path / "wide.png"
    path.write_bytes(huge_png_header(side, side))
    reason = check_image(path, max_pixels=10 * limit)
    assert reason and "too large" in reason
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("P", (4, 4), i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    path = tmp_path / "anim.gif"
    path.write_bytes(buf.getvalue())
    assert open_image(path).size == (4, 4)
