"""Speed benchmark: ftapp (its CLI) against a plain transformers.Trainer script, on one machine.

For each configuration both sides fine-tune the bundled MiniLM text model on
benchmarks/data/descriptions_train.csv with the same settings (frozen blocks, epochs, learning
rate, batch size 32, seed, weight decay, warm-up, validation split) and are scored on
descriptions_test.csv. Every side is timed as whole processes, wall clock from spawn to exit
(imports and model loading included):

    ftapp    `ftapp train ... --test-data TEST --out TMP` (trains, then scores TEST)
    Trainer  `python benchmarks/hf_trainer_baseline.py ...` (trains, then predicts on TEST)

By default ftapp gets the Trainer's settings as a user would type them (`--frozen-layers K
--epochs N --lr LR`, nothing else): its defaults then apply (the first model, the comparison with
it, early stopping, a held-out test slice, the baselines, the data check). `--like-for-like`
instead passes `--no-auto --min-steps 1 --test-fraction 0 --patience 0 --batch-size 32 --seed 0`
so both sides train exactly the same steps on the same rows (the comparison of 2026-11-23).

    python benchmarks/bench_vs_trainer.py                      # all three configurations
    python benchmarks/bench_vs_trainer.py --only head-only --repeat 3 --json-out results.json
    python benchmarks/bench_vs_trainer.py --app                # + app-vs-CLI overhead
    python benchmarks/bench_vs_trainer.py --app-only --repeat 7  # only the app against the CLI
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
TRAIN_CSV = DATA / "descriptions_train.csv"
TEST_CSV = DATA / "descriptions_test.csv"
BASELINE = HERE / "hf_trainer_baseline.py"
MODEL = "all-MiniLM-L6-v2 (bundled)"
BATCH_SIZE = 32
SEED = 0
PATIENCE = 0          # early stopping off: both sides train every epoch
ACC_TOLERANCE = 0.01
PROCESS_TIMEOUT = 3600


@dataclass(frozen=True)
class Config:
    name: str
    frozen: int          # of the model's 6 blocks
    epochs: int
    lr: float
    target: float        # ftapp wall / Trainer wall must be at most this

    def describe(self) -> str:
        return f"{self.frozen}/6 frozen, {self.epochs} ep, lr {self.lr:g}"


CONFIGS = (
    Config("head-only", 6, 10, 1e-3, 0.25),     # head-only needs a larger rate; both sides use it
    Config("part-frozen", 4, 5, 1e-4, 0.5),
    Config("full", 0, 3, 1e-4, 1.0),
)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("FTAPP_DEBUG", None)
    return {**env, **(extra or {})}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], log: Path, env: dict | None = None) -> tuple[float, str, float]:
    """Run a process to completion: wall seconds from spawn to exit, its stdout, and the CPU
    seconds (user + system, all threads) it used — less sensitive to other load on the machine.

    stdout and stderr go to files (never a pipe that could fill up and stall the child)."""
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        cpu0 = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=out, stderr=err, env=env or _env(), cwd=ROOT, timeout=PROCESS_TIMEOUT)
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu0
    stdout = log.with_suffix(".out").read_text()
    if proc.returncode != 0:
        tail = log.with_suffix(".err").read_text()[-2000:]
        raise RuntimeError(f"{' '.join(cmd[:3])}… exited {proc.returncode}; stderr tail:\n{tail}")
    return wall, stdout, cpu


def last_json(stdout: str, key: str) -> dict:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and f'"{key}"' in line:
            return json.loads(line)
    raise RuntimeError(f"no JSON line with '{key}' in the output:\n{stdout[-1000:]}")


def ftapp_command() -> list[str]:
    exe = shutil.which("ftapp")
    if exe is None:
        raise SystemExit("The `ftapp` console script is not on PATH: run `pip install -e .` first.")
    return [exe]


FTAPP_PRECISION = "auto"   # set by --ftapp-precision
LIKE_FOR_LIKE = False      # set by --like-for-like


def run_ftapp(cfg: Config, work: Path, logs: Path, tag: str) -> dict:
    out = work / f"ftapp-{tag}"
    train_cmd = ftapp_command() + [
        "train", "--data", str(TRAIN_CSV), "--test-data", str(TEST_CSV), "--model", MODEL, "--out", str(out),
        "--frozen-layers", str(cfg.frozen), "--epochs", str(cfg.epochs), "--lr", repr(cfg.lr)]
    if LIKE_FOR_LIKE:   # these settings, no search, no step floor, no test slice out of the training data
        train_cmd += ["--batch-size", str(BATCH_SIZE), "--seed", str(SEED), "--patience", str(PATIENCE),
                      "--precision", FTAPP_PRECISION, "--no-auto", "--min-steps", "1", "--test-fraction", "0"]
    load0 = os.getloadavg()[0]
    wall, _, cpu = timed(train_cmd, logs / f"{tag}-ftapp-train")
    metrics = json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": wall, "cpu_s": cpu, "train_loop_s": metrics["train_seconds"],
            "test_accuracy": metrics["file_test_accuracy"], "val_accuracy": metrics["val_accuracy"],
            "epochs_run": metrics["epochs_run"], "best_epoch": metrics["best_epoch"],
            "used_prefix_cache": metrics["used_prefix_cache"], "loadavg_1min_before": load0}


def run_trainer(cfg: Config, logs: Path, tag: str) -> dict:
    cmd = [sys.executable, str(BASELINE), "--train", str(TRAIN_CSV), "--test", str(TEST_CSV),
           "--frozen-layers", str(cfg.frozen), "--epochs", str(cfg.epochs), "--lr", repr(cfg.lr),
           "--batch-size", str(BATCH_SIZE), "--seed", str(SEED)]
    load0 = os.getloadavg()[0]
    wall, stdout, cpu = timed(cmd, logs / f"{tag}-trainer")
    result = last_json(stdout, "test_accuracy")
    return {"wall_s": wall, "cpu_s": cpu, "train_loop_s": result["train_seconds"], "test_accuracy": result["test_accuracy"],
            "loadavg_1min_before": load0}


# ---------------------------------------------------------------------------------------------
# Machine and report
# ---------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = subprocess.run([sys.executable, "-c",
                           "import torch, transformers; print(torch.__version__, transformers.__version__, "
                           "torch.get_num_threads(), torch.cuda.is_available())"],
                          capture_output=True, text=True, check=True).stdout.split()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "torch": info[0],
            "transformers": info[1], "torch_threads": int(info[2]), "cuda": info[3] == "True",
            "python": platform.python_version()}


def summarise(cfg: Config, ftapp_runs: list[dict], trainer_runs: list[dict]) -> dict:
    med = lambda runs, key: statistics.median(r[key] for r in runs)
    f_wall, t_wall = med(ftapp_runs, "wall_s"), med(trainer_runs, "wall_s")
    f_acc, t_acc = med(ftapp_runs, "test_accuracy"), med(trainer_runs, "test_accuracy")
    ratio = f_wall / t_wall
    return {"config": cfg.name, "settings": {"frozen_layers": cfg.frozen, "n_blocks": 6, "epochs": cfg.epochs,
                                             "lr": cfg.lr, "batch_size": BATCH_SIZE, "seed": SEED,
                                             "ftapp_patience": PATIENCE},
            "ftapp_wall_s": round(f_wall, 2), "trainer_wall_s": round(t_wall, 2), "ratio": round(ratio, 3),
            "ftapp_cpu_s": round(med(ftapp_runs, "cpu_s"), 2), "trainer_cpu_s": round(med(trainer_runs, "cpu_s"), 2),
            "cpu_ratio": round(med(ftapp_runs, "cpu_s") / med(trainer_runs, "cpu_s"), 3),
            "max_loadavg_1min": round(max(r["loadavg_1min_before"] for r in ftapp_runs + trainer_runs), 2),
            "target_ratio": cfg.target, "target_met": ratio <= cfg.target,
            "ftapp_test_accuracy": round(f_acc, 4), "trainer_test_accuracy": round(t_acc, 4),
            "accuracy_ok": f_acc >= t_acc - ACC_TOLERANCE,
            "runs": {"ftapp": ftapp_runs, "trainer": trainer_runs}}


def table(results: list[dict], mach: dict, repeat: int) -> str:
    head = ["config", "settings", "ftapp wall s", "Trainer wall s", "ratio", "target", "ftapp acc",
            "Trainer acc", "acc check", "CPU-s ratio", "load"]
    rows = []
    for r in results:
        s = r["settings"]
        rows.append([r["config"], f"{s['frozen_layers']}/6 frozen, {s['epochs']} ep, lr {s['lr']:g}",
                     f"{r['ftapp_wall_s']:.1f}", f"{r['trainer_wall_s']:.1f}", f"{r['ratio']:.3f}",
                     f"<={r['target_ratio']:g} {'ok' if r['target_met'] else 'MISSED'}",
                     f"{r['ftapp_test_accuracy']:.4f}", f"{r['trainer_test_accuracy']:.4f}",
                     "ok" if r["accuracy_ok"] else "FAILED", f"{r['cpu_ratio']:.3f}", f"{r['max_loadavg_1min']:.1f}"])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
    out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows), "",
           f"Machine: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} usable), torch {mach['torch']} "
           f"({mach['torch_threads']} threads, CUDA {'yes' if mach['cuda'] else 'no'}), "
           f"transformers {mach['transformers']}, Python {mach['python']}.",
           f"Wall = whole processes, spawn to exit (imports, model load, test scoring included); "
           f"ftapp = one `ftapp train --test-data --precision {FTAPP_PRECISION}` process (auto: bf16 mixed "
           f"precision on CPUs with native bf16, as this one{' has' if cpu_bf16() else ' has not'}); the Trainer "
           f"script runs in fp32, its default on CPU. "
           f"{'Median of ' + str(repeat) + ' runs.' if repeat > 1 else 'One run each.'}",
           (f"ftapp ran with --patience {PATIENCE} --no-auto --min-steps 1 --test-fraction 0: both train every "
            "epoch on the same rows." if LIKE_FOR_LIKE else "ftapp got only --frozen-layers, --epochs and --lr, as a "
            "user would type them: its defaults apply (first model, early stopping, test slice, baselines, data "
            "check).") + f" Acc check: ftapp >= Trainer - {ACC_TOLERANCE}.",
           "CPU-s ratio: the same ratio on user+system CPU seconds of the processes (less affected by other "
           "work on the machine); load: highest 1-min load average seen before a timed process "
           f"(>{mach['usable_cores']} means other processes competed for the cores)."]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# App vs CLI overhead
# ---------------------------------------------------------------------------------------------

APP_SCRIPT = ROOT / "app.py"
APP_MODULE = ROOT / "ftapp" / "ui" / "app.py"
APP_ENDPOINTS = ("/load_data", "/start_training", "/run_status")
POLL_SECONDS = 1.0   # what the app's own page does (a 1 s timer)


def app_available() -> str | None:
    """None when the app can be measured, else why not."""
    if not APP_MODULE.is_file() or "def build_demo" not in APP_MODULE.read_text():
        return "ftapp/ui/app.py with build_demo() does not exist"
    if not APP_SCRIPT.is_file():
        return "app.py (the launcher) does not exist"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(server: subprocess.Popen, url: str, err_log: Path) -> float:
    launched = time.perf_counter()
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"app.py exited with {server.returncode}: {err_log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - launched
        except OSError:
            pass
        if time.perf_counter() - launched > 300:
            raise RuntimeError("the app did not answer /gradio_api/info within 300 s")
        time.sleep(0.5)


def _wait_until_idle(pid: int, limit: float = 60.0) -> float:
    """The app answers pages at once and loads the engine (torch, transformers) in the background;
    a person spends longer than that uploading data and choosing settings. Wait until the server
    process is idle (under 10 % of a core over half a second), so the run is timed warm, like the
    in-process CLI reference, which also has its modules loaded before the clock starts."""
    import psutil

    proc, start = psutil.Process(pid), time.perf_counter()
    while time.perf_counter() - start < limit and proc.cpu_percent(interval=0.5) > 10:
        pass
    return time.perf_counter() - start


def run_app(cfg: Config, work: Path, logs: Path, tag: str) -> dict:
    """Train through the app's API: load_data (upload) -> start_training -> poll run_status."""
    from gradio_client import Client, handle_file

    runs_dir = work / f"app-runs-{tag}"
    port = _free_port()
    env = _env({"FTAPP_RUNS_DIR": str(runs_dir), "GRADIO_SERVER_PORT": str(port),
                "GRADIO_SERVER_NAME": "127.0.0.1", "FTAPP_MODE": "local", "GRADIO_ANALYTICS_ENABLED": "False"})
    out, err = open(logs / f"app-{tag}.out", "w"), open(logs / f"app-{tag}.err", "w")
    server = subprocess.Popen([sys.executable, str(APP_SCRIPT)], cwd=ROOT, env=env, stdout=out, stderr=err)
    url = f"http://127.0.0.1:{port}/"
    try:
        startup = _wait_for_server(server, url, logs / f"app-{tag}.err")
        startup += _wait_until_idle(server.pid)
        client = Client(url, verbose=False, download_files=str(work / "downloads"))
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        missing = [e for e in APP_ENDPOINTS if e not in api]
        if missing:
            raise LookupError(f"the app has no {', '.join(missing)} endpoint")

        t_submit = time.perf_counter()
        data = client.predict(file=handle_file(str(TRAIN_CSV)), api_name="/load_data")
        if not data.get("ok"):
            raise RuntimeError(f"load_data refused the data: {data.get('errors')}")
        t_start = time.perf_counter()
        status = client.predict(model=MODEL, frozen_layers=cfg.frozen, lr=cfg.lr, epochs=cfg.epochs,
                                batch_size=BATCH_SIZE, seed=SEED, patience=PATIENCE, api_name="/start_training")
        run_id, polls = status["id"], 0
        while not status.get("finished"):
            if time.perf_counter() - t_start > PROCESS_TIMEOUT:
                raise RuntimeError("the app run did not finish in time")
            time.sleep(POLL_SECONDS)
            status = client.predict(run_id=run_id, api_name="/run_status")
            polls += 1
        t_done = time.perf_counter()
        if status["status"] != "finished":
            raise RuntimeError(f"the app run ended '{status['status']}': {status.get('message')}")
        used = status.get("effective_settings") or {}
        if used.get("frozen_layers") != cfg.frozen or abs(float(used.get("lr") or 0) - cfg.lr) > 1e-12:
            raise RuntimeError(f"the app did not train with the requested settings: {used}")
        metrics = json.loads((runs_dir / run_id / "metrics.json").read_text()) \
            if (runs_dir / run_id / "metrics.json").is_file() else {}
        return {"run_span_s": run_span(runs_dir / run_id), "submit_to_finished_s": t_done - t_submit,
                "start_training_to_finished_s": t_done - t_start,
                "load_data_s": t_start - t_submit, "server_startup_s": startup, "status_polls": polls,
                "train_loop_s": metrics.get("train_seconds"), "epochs_run": metrics.get("epochs_run")}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        out.close(), err.close()


# The CLI measured the way the app is: modules the server has loaded at start-up are loaded
# first, then the clock runs from the train command to the saved model.
_CLI_IN_PROCESS = """
import json, sys, time
import ftapp.cli, ftapp.train.job
import transformers.modeling_utils  # the app's runner loads these while the server starts
t0 = time.perf_counter()
rc = ftapp.cli.main(sys.argv[1:])
print(json.dumps({"rc": rc, "submit_to_finished_s": time.perf_counter() - t0}), flush=True)
"""


def run_cli_in_process(cfg: Config, work: Path, logs: Path) -> dict:
    out = work / "cli-inproc"
    cmd = [sys.executable, "-c", _CLI_IN_PROCESS, "train", "--data", str(TRAIN_CSV), "--model", MODEL,
           "--out", str(out), "--frozen-layers", str(cfg.frozen), "--epochs", str(cfg.epochs), "--lr", repr(cfg.lr),
           "--batch-size", str(BATCH_SIZE), "--seed", str(SEED), "--patience", str(PATIENCE)]
    _, stdout, _ = timed(cmd, logs / "cli-in-process")
    result = last_json(stdout, "submit_to_finished_s")
    if result["rc"] != 0:
        raise RuntimeError(f"ftapp train exited {result['rc']}")
    metrics = json.loads((out / "metrics.json").read_text())
    span = run_span(out)
    shutil.rmtree(out, ignore_errors=True)
    return {"run_span_s": span, "submit_to_finished_s": result["submit_to_finished_s"],
            "train_loop_s": metrics["train_seconds"]}


def cpu_bf16() -> bool:
    from ftapp.train.device import cpu_has_native_bf16

    return cpu_has_native_bf16()


def run_span(run_dir: Path) -> float:
    """Seconds from the run's creation to its final status, as the run itself recorded them.
    The same clock for the app and the CLI, free of polling delays."""
    created = json.loads((run_dir / "settings.json").read_text())["created"]
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return max(e["t"] for e in events if e["kind"] == "status") - created


def app_section(cfg: Config, work: Path, logs: Path, repeat: int) -> dict:
    why = app_available()
    if why:
        return {"skipped": f"app endpoints not available ({why})"}
    try:
        cli_runs, app_runs = [], []
        for i in range(repeat):
            print(f"[{time.strftime('%H:%M:%S')}] app vs CLI ({cfg.name}) run {i + 1}/{repeat}…",
                  file=sys.stderr, flush=True)
            cli_runs.append(run_cli_in_process(cfg, work, logs))
            app_runs.append(run_app(cfg, work, logs, str(i + 1)))
            print(f"           CLI {cli_runs[-1]['run_span_s']:.1f} s, "
                  f"app {app_runs[-1]['run_span_s']:.1f} s", file=sys.stderr, flush=True)
    except LookupError as exc:
        return {"skipped": f"app endpoints not available ({exc})"}
    except Exception as exc:  # noqa: BLE001 — the main table must still be printed
        return {"skipped": f"app measurement failed: {type(exc).__name__}: {exc}".splitlines()[0][:400]}
    med = lambda runs, key: statistics.median(r[key] for r in runs)
    app, cli = med(app_runs, "run_span_s"), med(cli_runs, "run_span_s")
    return {"config": cfg.name, "cli_run_s": round(cli, 2), "app_run_s": round(app, 2), "ratio": round(app / cli, 3),
            "app_submit_to_finished_s": round(med(app_runs, "submit_to_finished_s"), 2),
            "app_start_training_to_finished_s": round(med(app_runs, "start_training_to_finished_s"), 2),
            "overhead_s": round(app - cli, 2), "overhead_pct": round(100 * (app - cli) / cli, 1),
            "pair_ratios": [round(a["run_span_s"] / c["run_span_s"], 3) for c, a in zip(cli_runs, app_runs)],
            "cli_train_loop_s": round(med(cli_runs, "train_loop_s"), 2),
            "app_train_loop_s": round(med(app_runs, "train_loop_s"), 2),
            "app_server_startup_s": round(med(app_runs, "server_startup_s"), 2),
            "runs": {"cli": cli_runs, "app": app_runs}}


def app_text(section: dict) -> str:
    if "skipped" in section:
        return f"App vs CLI: skipped: {section['skipped']}."
    s = section
    return (f"App vs CLI ({s['config']}; run created -> final status, as recorded by the run; start-up excluded): "
            f"CLI {s['cli_run_s']:.1f} s, app {s['app_run_s']:.1f} s, ratio {s['ratio']:.3f} (target <= 1.02; each "
            f"pair: {', '.join(f'{r:.2f}' for r in s['pair_ratios'])}, median {statistics.median(s['pair_ratios']):.3f}); "
            f"overhead {s['overhead_s']:+.1f} s ({s['overhead_pct']:+.1f} %). Seen by the client polling every "
            f"{POLL_SECONDS:g} s: upload+load_data+run {s['app_submit_to_finished_s']:.1f} s. Training loop inside: CLI "
            f"{s['cli_train_loop_s']:.1f} s, app {s['app_train_loop_s']:.1f} s. App start-up until idle (not counted): "
            f"{s['app_server_startup_s']:.1f} s.")


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    names = [c.name for c in CONFIGS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=names, action="append", help="run just this configuration (repeatable)")
    p.add_argument("--repeat", type=int, default=1, help="runs per side and configuration; the median is reported")
    p.add_argument("--json-out", type=Path, help="write the results here as JSON")
    p.add_argument("--app", action="store_true", help="also measure training through the app against the CLI")
    p.add_argument("--app-only", action="store_true", help="measure only the app against the CLI (no Trainer)")
    p.add_argument("--app-config", choices=names, default="part-frozen")
    p.add_argument("--ftapp-precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="ftapp's --precision (auto = bf16 on CPUs with native bf16); the Trainer runs fp32")
    p.add_argument("--like-for-like", action="store_true",
                   help="pass ftapp every setting that makes it train exactly the Trainer's steps on the same rows")
    p.add_argument("--logs", type=Path, help="keep every process's stdout/stderr here (default: a temp folder)")
    args = p.parse_args(argv)
    global FTAPP_PRECISION, LIKE_FOR_LIKE
    FTAPP_PRECISION, LIKE_FOR_LIKE = args.ftapp_precision, args.like_for_like
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    for f in (TRAIN_CSV, TEST_CSV, BASELINE):
        if not f.is_file():
            raise SystemExit(f"missing {f}")

    mach = machine()
    configs = [] if args.app_only else [c for c in CONFIGS if not args.only or c.name in args.only]
    results, app = [], None
    with tempfile.TemporaryDirectory(prefix="ftapp-bench-") as tmp:
        work = Path(tmp)
        logs = args.logs or work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for cfg in configs:
            ftapp_runs, trainer_runs = [], []
            for i in range(args.repeat):
                tag = f"{cfg.name}-{i + 1}"
                # Alternate which side goes first so slow drifts in machine load hit both.
                order = ("ftapp", "trainer") if i % 2 == 0 else ("trainer", "ftapp")
                for side in order:
                    print(f"[{time.strftime('%H:%M:%S')}] {cfg.name} ({cfg.describe()}) run {i + 1}/{args.repeat}: "
                          f"{side}…", file=sys.stderr, flush=True)
                    if side == "ftapp":
                        ftapp_runs.append(run_ftapp(cfg, work, logs, tag))
                        r = ftapp_runs[-1]
                    else:
                        trainer_runs.append(run_trainer(cfg, logs, tag))
                        r = trainer_runs[-1]
                    print(f"           {r['wall_s']:.1f} s wall, test accuracy {r['test_accuracy']:.4f}",
                          file=sys.stderr, flush=True)
            results.append(summarise(cfg, ftapp_runs, trainer_runs))
        if args.app or args.app_only:
            app = app_section(next(c for c in CONFIGS if c.name == args.app_config), work, logs, args.repeat)

    print(table(results, mach, args.repeat))
    if app is not None:
        print(app_text(app))
    for r in results:
        early = [x["epochs_run"] for x in r["runs"]["ftapp"] if x["epochs_run"] != r["settings"]["epochs"]]
        if early:
            print(f"note: {r['config']}: ftapp stopped after {early} epochs despite --patience {PATIENCE}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"machine": mach, "repeat": args.repeat, "patience_ftapp": PATIENCE,
                                             "timing": "wall clock of whole processes, spawn to exit",
                                             "results": results, "app": app}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
