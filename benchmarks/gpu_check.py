"""GPU readiness in one command (under 8 minutes on one GPU): ftapp's engine on CUDA in bf16.

    python benchmarks/gpu_check.py [--json-out gpu.json]

1. `ftapp train` with defaults on the bundled text example (MiniLM) and the bundled picture example
   (EfficientNet-Lite0): wall time, test accuracy, the device the run reports.
2. A ViT-B/16-sized model (built from its config: 86 M parameters, 224 px, 197 tokens; random
   weights, since nothing is downloaded) trained through ftapp's own Fitter for a fixed number of
   steps on random pictures at batch 64, bf16 autocast, fused AdamW, channels-last where it helps:
   pictures per second, peak GPU memory, and model-FLOPs utilisation (6 × parameters × tokens per
   picture for a training step, against the card's dense bf16 peak).
3. With two or more GPUs visible: the bundled text example with `--gpus 2` (DDP over NCCL).

Prints one JSON line per check and a summary; exits non-zero when CUDA is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "T4": 65.0}


def peak_tflops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def bundled(name: str, data: Path, model: str, extra: list[str] = ()) -> dict:
    with tempfile.TemporaryDirectory() as out:
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "ftapp.cli", "train", "--data", str(data), "--model", model,
                               "--out", out, *extra], capture_output=True, text=True)
        wall = time.time() - started
        if proc.returncode:
            return {"check": name, "ok": False, "error": proc.stderr[-2000:]}
        m = json.loads((Path(out) / "metrics.json").read_text())
        status = json.loads((Path(out) / "status.json").read_text())
    return {"check": name, "ok": True, "wall_s": round(wall, 1), "test_accuracy": m.get("test_accuracy"),
            "world_size": m.get("world_size"), "device": status.get("device")}


def vit_throughput(steps: int = 60, batch: int = 64) -> dict:
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    from ftapp.models.classifier import Classifier
    from ftapp.models.preprocess import ImagePreprocessor, ImageSpec
    from ftapp.train.config import TrainConfig
    from ftapp.train.loop import Fitter, Recipe
    from ftapp.train.prepared import Prepared
    from ftapp.train.schedule import plan_length

    device = torch.device("cuda")
    net = ViTForImageClassification(ViTConfig(num_labels=10))          # ViT-B/16: 12 layers, 768 wide
    clf = Classifier(net, ImagePreprocessor(ImageSpec(224)), [str(i) for i in range(10)], "vit-b16", "transformers")
    n = batch * 8
    pictures = [torch.randint(0, 255, (3, 224, 224), dtype=torch.uint8) for _ in range(n)]
    labels = [i % 10 for i in range(n)]
    config = TrainConfig(batch_size=batch, precision="bf16", cache_prefix=False, patience=0)
    data = Prepared(clf, pictures, labels, [], [], device)
    length = plan_length(n, batch, epochs=None, min_steps=steps, warmup_ratio=0.1)
    fitter = Fitter(clf, data, Recipe(0, 1e-4), length, config=config, device=device, precision="bf16")
    fitter.activate()
    fitter.train(until_step=5)                                            # warm-up: kernels, allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started, done = time.time(), fitter.step
    fitter.train(until_step=steps)
    torch.cuda.synchronize()
    seconds = time.time() - started
    pictures_s = (fitter.step - done) * batch / seconds
    params = sum(p.numel() for p in net.parameters())
    flops = 6 * params * 197 * pictures_s
    name = torch.cuda.get_device_name()
    peak = peak_tflops(name)
    return {"check": "vit-b16-train", "ok": True, "device": name, "parameters_m": round(params / 1e6, 1),
            "pictures_per_s": round(pictures_s, 1), "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "achieved_tflops": round(flops / 1e12, 1), "peak_bf16_tflops": peak,
            "mfu": None if peak is None else round(flops / 1e12 / peak, 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"ok": False, "error": "CUDA is not available on this machine"}))
        return 1
    rows = [bundled("text-example", ROOT / "assets/examples/support_tickets.csv", "all-MiniLM-L6-v2 (bundled)"),
            bundled("picture-example", ROOT / "assets/examples/shapes.zip", "EfficientNet-Lite0 (bundled)")]
    for r in rows:
        print(json.dumps(r), flush=True)
    rows.append(vit_throughput())
    print(json.dumps(rows[-1]), flush=True)
    if torch.cuda.device_count() >= 2:
        rows.append(bundled("text-example-2-gpus", ROOT / "assets/examples/support_tickets.csv",
                            "all-MiniLM-L6-v2 (bundled)", ["--gpus", "2"]))
        print(json.dumps(rows[-1]), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))
    return 0 if all(r.get("ok") for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
