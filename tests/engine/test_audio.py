"""Sounds and speech: recordings in class folders, the bundled Whisper encoder (converted from its
CTranslate2 file), training, predict and the exported folder in transformers' audio pipeline."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_tone, write_tone_folders, zip_of

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def test_the_bundled_whisper_weights_are_converted_right_it_transcribes_a_spoken_phrase():
    """Encoder and decoder converted from the CTranslate2 file, greedy decoding: the words come out."""
    import torch
    from transformers import WhisperFeatureExtractor

    from ftapp.data.audio import read_audio
    from ftapp.models.whisper_offline import full_model

    model, tokenizer = full_model()
    x = read_audio(str(ASSETS / "hello-world.wav"), 16_000)          # an 8 kHz telephone prompt, resampled
    features = WhisperFeatureExtractor()(x, sampling_rate=16_000, return_tensors="pt").input_features
    ids = [tokenizer.token_to_id("<|startoftranscript|>"), tokenizer.token_to_id("<|notimestamps|>")]
    end = tokenizer.token_to_id("<|endoftext|>")
    with torch.no_grad():
        encoded = model.model.encoder(features).last_hidden_state
        for _ in range(12):
            token = int(model(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token == end:
                break
            ids.append(token)
    assert tokenizer.decode(ids[2:]).strip().lower().rstrip("!.") == "hello world"


def test_the_bundled_audio_model_loads_as_a_classifier_with_a_five_second_window():
    from ftapp.models.catalog import BUNDLED_AUDIO
    from ftapp.models.loading import load_pretrained

    clf = load_pretrained(BUNDLED_AUDIO, ["yes", "no"], modality="audio")
    assert clf.modality == "audio" and clf.n_blocks == 4 and clf.layout.stem[0] == "encoder.conv1"
    assert clf.preprocess.spec.seconds == 5.0 and clf.preprocess.spec.sampling_rate == 16_000
    probs = clf.predict_proba([str(ASSETS / "hello-world.wav"), (8_000, np.zeros(800, dtype=np.int16))])
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1).numpy(), 1, atol=1e-4)
    clf.freeze(2)
    frozen = {n for n, p in clf.model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("encoder.conv1") for n in frozen) and any("layers.1." in n for n in frozen)
    assert not any("layers.2." in n for n in frozen) and not any(n.startswith("classifier") for n in frozen)


def test_class_folders_of_recordings_load_with_their_rates_and_formats(tmp_path):
    from ftapp.data import load_dataset

    root = write_tone_folders(tmp_path / "tones", n_per_class=6)
    write_tone(root / "low" / "stereo.wav", 220, channels=2, rate=8_000)          # 8 kHz stereo
    write_tone(root / "high" / "deep.wav", 1760, subtype="PCM_24", rate=48_000)   # 24-bit
    ds, report = load_dataset(root, workdir=tmp_path / "w")
    assert report.ok and ds.modality == "audio" and ds.classes == ["high", "low"] and len(ds) == 14
    summary = report.summary()
    assert "14 recordings at 8,000 Hz (1), 16,000 Hz (8), 44,100 Hz (4), 48,000 Hz (1); 1 in stereo" in summary
    assert "high 0.6 / 0.6 / 0.6 s; low 0.6 / 0.6 / 0.6 s" in summary and "longer than" not in summary


def test_a_table_of_recording_files_loads_as_recordings(tmp_path):
    """A zip with a table naming each recording (relative paths, one by name only) and its label: the
    recordings' report as for class folders, and the unusable rows skipped naming row and reason."""
    from ftapp.data import load_dataset

    root = tmp_path / "upload"
    write_tone_folders(root / "clips", n_per_class=6)
    files = sorted(p.relative_to(root).as_posix() for p in (root / "clips").rglob("*.*"))
    (root / "clips" / "notes.txt").write_text("not a recording")
    rows = [f"{f},{'buzz' if '/high/' in f else 'hum'}" for f in files]
    rows[0] = rows[0].split("/")[-1].split(",")[0] + ",buzz"            # just the file name: found by name
    rows += ["clips/missing.wav,hum", "clips/notes.txt,hum"]
    (root / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    ds, report = load_dataset(zip_of(root, tmp_path / "upload.zip"), workdir=tmp_path / "w")
    assert report.ok and ds.modality == "audio" and report.path_column == "file" and len(ds) == 12
    assert ds.classes == ["buzz", "hum"] and report.details["audio"]["rows"] == 12
    assert "12 recordings at" in report.summary()
    skipped = {p.where: p.message for p in report.skipped}
    assert "was not found" in skipped["labels.csv row 14"] and "recording" in skipped["labels.csv row 14"]
    assert "is not a recording this app reads" in skipped["labels.csv row 15"]
    assert any("found elsewhere in the upload" in p.message for p in report.warnings)


def _two_hours_of_silence(path: Path) -> Path:
    """A real 2-hour FLAC (8 kHz, silence compresses to ~180 KB, written in under a second)."""
    import soundfile as sf

    with sf.SoundFile(str(path), "w", 8_000, 1, format="FLAC") as f:
        for _ in range(120):
            f.write(np.zeros(8_000 * 60, dtype="int16"))
    return path


def test_bad_recordings_are_skipped_with_a_reason_and_the_rest_train(tmp_path):
    from ftapp.data import load_dataset

    root = write_tone_folders(tmp_path / "tones", n_per_class=6)
    (root / "low" / "notes.wav").write_text("this is not a recording")
    full = write_tone(tmp_path / "whole.wav", 220, seconds=1.0)
    (root / "low" / "cut.wav").write_bytes(full.read_bytes()[:30])                # truncated inside the header
    write_tone(root / "high" / "empty.wav", 1760, seconds=0.0)                       # 0 s
    _two_hours_of_silence(root / "high" / "two_hours.flac")
    ds, report = load_dataset(root, workdir=tmp_path / "w")
    assert report.ok and len(ds) == 12
    skipped = {p.where.split("/")[-1]: p.message for p in report.problems}
    assert "could not be read as audio" in skipped["notes.wav"] and "could not be read as audio" in skipped["cut.wav"]
    assert "0 seconds" in skipped["empty.wav"]
    assert "120 minutes long" in skipped["two_hours.flac"] and "cut it into short clips" in skipped["two_hours.flac"]


def test_train_predict_and_the_export_loads_in_the_audio_pipeline(tmp_path, tiny_audio_model):
    """The CLI end to end on recordings: a model that hears the difference, `ftapp predict` on a
    WAV, and transformers' audio-classification pipeline giving the same top class."""
    import subprocess
    import sys

    from transformers import pipeline

    root = write_tone_folders(tmp_path / "tones", n_per_class=15)
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "ftapp.cli", "train", "--data", str(root), "--model", tiny_audio_model,
                           "--out", str(out), "--epochs", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_accuracy"] >= 0.9        # two pitches three octaves apart
    clip = write_tone(tmp_path / "new.wav", 1760 * 1.01, seed=99)
    said = subprocess.run([sys.executable, "-m", "ftapp.cli", "predict", "--model", str(out), str(clip)],
                          capture_output=True, text=True)
    answer = json.loads(said.stdout.strip().splitlines()[-1])
    assert said.returncode == 0 and answer["label"] == "high"
    import soundfile as sf

    samples, rate = sf.read(str(clip), dtype="float32")   # the pipeline reads files through ffmpeg: hand it samples
    heard = pipeline("audio-classification", model=str(out))({"raw": samples, "sampling_rate": rate})
    assert heard[0]["label"] == answer["label"]
    assert abs(heard[0]["score"] - answer["labels"][0]["score"]) < 0.02


# ---- exports of a sound model: the card's snippets, ONNX, the demo Space ---------------------------------
@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    from conftest import make_tiny_audio_model, train_run

    tmp = tmp_path_factory.mktemp("audio")
    model = make_tiny_audio_model(tmp / "whisper")
    return train_run(tmp, str(model), write_tone_folders(tmp / "tones", n_per_class=12), epochs=2)


def test_sound_model_card_snippets_and_onnx_agree_with_ftapp(audio_run, tmp_path):
    import re
    import subprocess
    import sys
    import zipfile

    from ftapp.export import export_onnx, export_zip
    from ftapp.inference import predict_run

    with zipfile.ZipFile(export_zip(audio_run.dir, tmp_path)) as zf:
        zf.extractall(tmp_path)
    folder = export_onnx(audio_run.dir, tmp_path / "onnx")
    check = json.loads((folder / "onnx_check.json").read_text())
    assert check["ok"] and check["examples"] >= 4 and json.loads((folder / "preprocessing.json").read_text())[
        "input"] == "input_features"
    int8 = check["int8"]   # the int8 copy: smaller, measured against the model, described by those numbers
    assert (folder / "model.int8.onnx").is_file() and int8["megabytes"] < 0.9 * int8["megabytes_full"], int8
    assert 0 <= int8["same_answers"] <= 1 and int8["time_vs_full"] > 0
    assert f"the model's answer on {100 * int8['same_answers']:.0f} %" in (folder / "README.md").read_text()
    card = (tmp_path / "model" / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card and "It sorts a recording into one of the 2 classes" in card
    assert "It hears the first 1 second of a recording, mixed to mono and resampled to 16,000 Hz" in card
    clip = write_tone(tmp_path / "clip.wav", 250, rate=44_100, channels=2, seed=5)   # as users record: stereo, 44.1 kHz
    probs = predict_run(audio_run.dir, str(clip))
    top = max(probs, key=probs.get)
    (folder / "clip.wav").write_bytes(clip.read_bytes())
    blocks = [(code, tmp_path) for code in re.findall(r"```python\n(.*?)```", card, flags=re.S)] + \
        [(code, folder) for code in re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), flags=re.S)]
    assert len(blocks) >= 3   # the pipeline, ONNX from the card, ONNX from its own README
    for code, where in blocks:   # the pipeline prints every class's score; the ONNX snippets their answer
        done = subprocess.run([sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (code, done.stderr[-2000:])
        assert top in done.stdout or done.stdout.strip() == "not sure", (code, done.stdout)


def test_sound_space_bundle_answers_an_uploaded_recording(audio_run, tmp_path):
    from gradio_client import handle_file
    from test_exports import _Served

    from ftapp.export import export_space
    from ftapp.inference import predict_run

    folder = export_space(audio_run.dir, tmp_path / "space")
    assert "gr.Audio(" in (folder / "app.py").read_text() and any((folder / "examples").iterdir())
    clip = write_tone(tmp_path / "clip.wav", 1800, seed=7)
    probs = predict_run(audio_run.dir, str(clip))
    served = _Served(folder)
    try:
        label, answer = served.client().predict(handle_file(str(clip)), api_name="/predict")
    finally:
        served.close()
    assert label["label"] == max(probs, key=probs.get) and "Answer: " in answer


def test_why_shows_when_in_a_recording_the_sound_drove_the_answer(audio_run, tmp_path):
    """Occlusion over time: a clip that is silent, then the high tone; the stretch with the tone
    weighs more than the silence before it."""
    import soundfile as sf
    from PIL import Image

    from ftapp.inference import explain_run

    rate = 16_000
    t = np.arange(rate // 2) / rate
    x = np.concatenate([np.zeros(rate // 2), 0.5 * np.sin(2 * np.pi * 1760 * t)]).astype(np.float32)
    sf.write(str(tmp_path / "late.wav"), x, rate)
    result = explain_run(audio_run.dir, str(tmp_path / "late.wav"), target="high")
    picture = np.asarray(Image.open(result["heatmap"]).convert("RGB")).astype(int)
    redness = (picture[..., 0] - picture[..., 1]).mean(0)          # per column: how red
    half = picture.shape[1] // 2
    assert result["label"] == "high" and "when in the recording" in result["caption"]
    assert redness[half:].mean() > redness[:half].mean()


def test_sound_augmentation_is_seeded_keeps_the_shape_never_starts_early_and_adds_noise(tiny_audio_model, tmp_path):
    from ftapp.models.loading import load_pretrained

    clf = load_pretrained(tiny_audio_model, ["low", "high"], modality="audio")
    pre = clf.preprocess
    feats = pre.encode([str(write_tone(tmp_path / "a.wav", 440, seconds=0.3))])
    plain = pre.collate(feats)["input_features"]
    a, b = (pre.collate(feats, augment=True, seeds=[s])["input_features"] for s in (7, 7))
    c = pre.collate(feats, augment=True, seeds=[8])["input_features"]
    assert a.shape == plain.shape and torch_equal(a, b) and not torch_equal(a, c) and not torch_equal(a, plain)
    onset = int(plain[0].amax(0).argmax())   # the loudest frame moves later or stays, never earlier
    assert int(a[0].amax(0).argmax()) >= onset - 1
    tail = (slice(None), slice(-30, None))   # the silence after the tone: noise 30–60 dB below it lifts it
    assert float(a[0][tail].median()) > float(plain[0][tail].median()) + 0.3


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


def _tiny_waveform_model(folder: Path, family: str, stable: bool = False) -> Path:
    """The Hub's waveform families (wav2vec 2.0, HuBERT, WavLM) at toy size, with the weighted layer
    sum their audio-classification heads offer, and their feature extractor."""
    import transformers as tf

    config_class, model_class = {"wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2ForSequenceClassification),
                                 "hubert": (tf.HubertConfig, tf.HubertForSequenceClassification),
                                 "wavlm": (tf.WavLMConfig, tf.WavLMForSequenceClassification)}[family]
    config = config_class(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          conv_dim=(16, 16, 16, 16), conv_stride=(5, 4, 4, 4), conv_kernel=(10, 4, 4, 4),
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
                          num_labels=2, use_weighted_layer_sum=True, do_stable_layer_norm=stable)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16_000, return_attention_mask=False).save_pretrained(folder)
    return folder


def test_a_hub_whisper_hears_five_seconds_through_every_layer_as_the_bundled_one(tmp_path):
    """A Whisper speech-recognition checkpoint (what `openai/whisper-small` is) becomes a classifier
    with the bundled model's measured choices: a 5 s window (its 30 s position table sliced, its
    feature extractor set alike) and a head on the mean of all its layers; the saved folder loads
    in transformers' audio pipeline with the same answer."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, pipeline

    from ftapp.models.loading import load_pretrained

    config = WhisperConfig(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=32, num_mel_bins=80,
                           max_source_positions=1500)
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(tmp_path / "asr")
    WhisperFeatureExtractor().save_pretrained(tmp_path / "asr")            # Whisper's own: 30 s
    clf = load_pretrained(str(tmp_path / "asr"), ["high", "low"], modality="audio")
    assert clf.preprocess.spec.seconds == 5 and clf.model.config.max_source_positions == 250
    assert clf.model.config.use_weighted_layer_sum and clf.layout.summary
    torch.testing.assert_close(clf.model.encoder.embed_positions.weight,
                               WhisperForConditionalGeneration.from_pretrained(tmp_path / "asr").model.encoder
                               .embed_positions.weight[:250])
    clip = str(write_tone(tmp_path / "a.wav", 880, seconds=1.0))
    ours = clf.predict_proba([clip])[0]
    clf.save(tmp_path / "saved")
    heard = pipeline("audio-classification", model=str(tmp_path / "saved"), top_k=None)(
        {"raw": clf.preprocess.samples(clip), "sampling_rate": 16_000})
    assert {h["label"]: round(h["score"], 4) for h in heard} == {
        label: round(float(p), 4) for label, p in zip(clf.labels, ours)}


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm"])
def test_the_hubs_waveform_families_load_freeze_and_train(tmp_path, family):
    """The catalog's Hub audio choices other than Whisper and the AST (no network here: their
    families at toy size): two blocks, each frozen block trains fewer weights, and a run trains,
    keeps its model and answers for a recording."""
    from conftest import train_run
    from ftapp.inference import predict_run
    from ftapp.models.loading import load_pretrained

    folder = _tiny_waveform_model(tmp_path / "model", family)
    clf = load_pretrained(str(folder), ["high", "low"], modality="audio")
    assert clf.layout.family == "hf-audio" and clf.n_blocks == 2 and clf.preprocess.key == "input_values"
    counts = []
    for k in range(clf.n_blocks + 1):
        clf.freeze(k)
        counts.append(clf.param_counts()[0])
    assert counts[0] > counts[1] > counts[2] > 0
    data = zip_of(write_tone_folders(tmp_path / "tones", n_per_class=8), tmp_path / "tones.zip")
    run = train_run(tmp_path, str(folder), data, frozen_layers=1, epochs=2)
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["n_val"] > 0 and 0 <= metrics["val_accuracy"] <= 1
    answer = predict_run(run.dir, str(write_tone(tmp_path / "new.wav", 1760, seed=9)))
    assert set(answer) <= {"high", "low"} and abs(sum(answer.values()) - 1) < 1e-4


def _cache_is_exact(clf, enc) -> None:
    """For every number of frozen blocks: the model trained from cached states gives the whole
    model's logits and the same gradients to every trainable weight, and is whole again after."""
    import torch

    from ftapp.train import prefix_cache

    y = torch.tensor([0, 1, 2][:len(enc)])
    clf.model.eval()

    def logits_and_grads(batch):
        clf.model.zero_grad()
        logits = clf.forward(batch)
        torch.nn.functional.cross_entropy(logits, y).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in clf.model.named_parameters() if p.grad is not None}

    for k in range(1, clf.n_blocks + 1):
        assert prefix_cache.cache_supported(clf, k, augment=False)
        clf.freeze(k)
        reference, grads = logits_and_grads(clf.preprocess.collate(enc))
        frozen = prefix_cache.compute_states(clf, enc, [k], 2, torch.device("cpu"), head_inputs=True)
        with prefix_cache.bypass_prefix(clf, k, frozen.as_tuple):
            cached, cached_grads = logits_and_grads(prefix_cache.cached_batch(clf, frozen.states[k],
                                                                              list(range(len(enc))),
                                                                              torch.device("cpu"), k))
        torch.testing.assert_close(cached, reference, atol=1e-5, rtol=1e-4)
        assert set(cached_grads) == set(grads), (k, set(grads) ^ set(cached_grads))
        assert (k < clf.n_blocks) == any(".layers." in n for n in grads)
        for name, g in grads.items():
            torch.testing.assert_close(cached_grads[name], g, atol=1e-5, rtol=1e-3)
        with torch.no_grad():   # and the head's inputs are what the head reads
            torch.testing.assert_close(clf.head(frozen.head_inputs), reference, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(clf.forward(clf.preprocess.collate(enc)), reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("layer_sum", [True, False])
def test_whisper_trains_from_cached_states_with_any_number_of_blocks_frozen(tmp_path, layer_sum):
    """The cache is only an optimisation. Every block frozen: the model fed its layers' time-averages
    as `encoder_outputs` gives the whole model's logits. Some blocks frozen: the trainable layers run
    on the cached state, the frozen ones are read as time-averages, and logits and the trainable
    weights' gradients are the whole model's."""
    from conftest import make_tiny_audio_model
    from ftapp.models.loading import load_pretrained

    clf = load_pretrained(str(make_tiny_audio_model(tmp_path / "m", layer_sum=layer_sum)), ["a", "b", "c"],
                          modality="audio")
    clips = [str(write_tone(tmp_path / f"{hz}.wav", hz, seconds=0.5)) for hz in (220, 880, 3000)]
    _cache_is_exact(clf, clf.preprocess.encode(clips))


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "wavlm"])
@pytest.mark.parametrize("stable", [False, True])
def test_waveform_models_train_from_cached_states_too(tmp_path, family, stable):
    """wav2vec 2.0, HuBERT and WavLM (the layer norm before the first layer, or "stable" after the
    last; WavLM's layers also hand a position bias on): the same re-entry, exact for every number of
    frozen blocks."""
    from ftapp.models.loading import load_pretrained

    clf = load_pretrained(str(_tiny_waveform_model(tmp_path / "m", family, stable=stable)), ["a", "b", "c"],
                          modality="audio")
    clips = [str(write_tone(tmp_path / f"{hz}.wav", hz, seconds=0.5)) for hz in (220, 880, 3000)]
    _cache_is_exact(clf, clf.preprocess.encode(clips))
