"""Run registry: a model is trained only when no finished run with the same configuration exists.

A run lives in `<root>/<preset>/<name>-<hash>/`, the hash taken over every config field that
changes the trained weights (not the output folder, device, logging cadence, …). Notebooks ask
for models by configuration; the first asks trains, the others (and the second `make
reproduce`) load. Shipped generators (`models/<preset>/<name>.safetensors`, fp16, carrying their
training config) are found the same way, so a fresh clone reproduces without retraining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..io.serialization import load_generator, load_metadata, load_tensors, save_tensors
from ..train import CHECKPOINT_DIR, FINAL_GENERATOR, TrainConfig, latest_checkpoint, train

logger = logging.getLogger(__name__)

# Fields that do not change what is trained: excluded from the key.
BOOKKEEPING = ("out", "device", "workers", "snapshot_kimg", "sample_kimg", "sample_count", "keep_checkpoints",
               "quality_kimg", "quality_n", "channels_last")
# How the same computation is carried out (autocast precision, compilation): these change the
# weights only by arithmetic rounding, as another CPU or GPU does — the README's quality guard
# measures that bf16 autocast trains to the FD-proc of float32. Keyed at the values every run had
# before they became settings of speed, so that the keys of existing runs stay what they were.
NUMERICS = {"amp": "none", "compile": False}
# Fields added after runs were keyed: left out of the key at their default, which is what those
# runs did.
ADDED_FIELDS: dict[str, object] = {"lambda_d_scale": "per_pixel", "eq15_scale": "mean_a", "skip_bad_images": True,
                                   "background": (255, 255, 255)}
RUNS_ENV = "SSNLIB_RUNS"
MODELS_ENV = "SSNLIB_MODELS"


def project_root() -> Path:
    """The repository: where `runs/`, `models/`, `results/` and `figures/` live."""
    return Path(__file__).resolve().parents[2]


def default_runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV) or project_root() / "runs")


def default_models_root() -> Path:
    return Path(os.environ.get(MODELS_ENV) or project_root() / "models")


def config_key(config: TrainConfig) -> str:
    """Stable hash of the weight-relevant configuration. A fine-tune's `init_from` counts by the
    base run's folder name (which holds the base's own key), a file by its name (a checkpoint's with
    its run's folder name), not by where the runs root is."""
    relevant = {k: v for k, v in config.to_dict().items()
                if k not in BOOKKEEPING and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
    relevant.update(NUMERICS)
    if relevant.get("init_from"):
        source = Path(relevant["init_from"])
        # a checkpoint file counts with its run's folder name: `ckpt-<step>` alone names no run
        relevant["init_from"] = f"{source.parents[1].name}/{source.name}" if source.parent.name == CHECKPOINT_DIR \
            else source.name
    return hashlib.sha1(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:10]


def run_directory(config: TrainConfig, name: str, root: str | Path | None = None) -> Path:
    root = Path(root) if root is not None else default_runs_root()
    return root / config.preset / f"{name}-{config_key(config)}"


def shipped_generator(config: TrainConfig, name: str, models: str | Path | None = None) -> Path | None:
    """A shipped generator file for this name whose stored training config has the same key."""
    path = (Path(models) if models is not None else default_models_root()) / config.preset / f"{name}.safetensors"
    if not path.is_file():
        return None
    _, meta = load_tensors(path)
    stored = meta.get("train_config")
    if stored is None or config_key(TrainConfig.from_dict(stored)) != config_key(config):
        logger.warning("%s was trained with another configuration; not using it", path)
        return None
    return path


def find_generator(config: TrainConfig, name: str, root: str | Path | None = None,
                   models: str | Path | None = None, use_shipped: bool = True) -> Path | None:
    """The generator file for `config` if one exists: shipped (unless `use_shipped=False`, as
    `make retrain`), or a finished run under `root`; None if it would have to be trained."""
    shipped = shipped_generator(config, name, models) if use_shipped else None
    if shipped is not None:
        return shipped
    final = run_directory(config, name, root) / FINAL_GENERATOR
    return final if final.is_file() else None


def ensure_run(config: TrainConfig, name: str, root: str | Path | None = None,
               models: str | Path | None = None, use_shipped: bool = True) -> Path:
    """`find_generator`, or train now (resuming an interrupted run) and return the new file."""
    found = find_generator(config, name, root, models, use_shipped)
    if found is not None:
        return found
    out = run_directory(config, name, root)
    final = out / FINAL_GENERATOR
    config = TrainConfig.from_dict({**config.to_dict(), "out": str(out)})
    partial = latest_checkpoint(out)
    logger.info("%s %s in %s", "resuming" if partial else "training", name, out)
    train(config, resume=out if partial else None)
    return final


def load_run(config: TrainConfig, name: str, device: str = "cpu", **kwargs):
    """`ensure_run`, then the EMA generator, in eval mode."""
    return load_generator(ensure_run(config, name, **kwargs), device=device)


def ship_runs(preset: str, root: str | Path | None = None, models: str | Path | None = None) -> list[Path]:
    """Copy every finished run of `preset` to `<models>/<preset>/<name>.safetensors` with fp16
    tensors and the same metadata (training config included, so `shipped_generator` matches it):
    what a fresh clone loads instead of retraining. Returns the written files."""
    runs = (Path(root) if root is not None else default_runs_root()) / preset
    target = (Path(models) if models is not None else default_models_root()) / preset
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for final in sorted(runs.glob(f"*/{FINAL_GENERATOR}")):
        tensors, meta = load_tensors(final)
        config = TrainConfig.from_dict(meta["train_config"])
        name = final.parent.name.removesuffix(f"-{config_key(config)}")
        if name == final.parent.name:
            logger.warning("%s: folder name does not end in its config key; skipped", final.parent)
            continue
        half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
        path = target / f"{name}.safetensors"
        save_tensors(path, half, meta)
        logger.info("shipped %s → %s (%.2f MB)", final.parent.name, path, path.stat().st_size / 1e6)
        written.append(path)
    return written


def describe_model(path: str | Path) -> str:
    """One line from a generator file's stored training config: dataset, grid, λD and the
    regularizer variant ("faces · 4×4 · λD 100"); the file name where the file has none."""
    config = load_metadata(path).get("train_config")
    if not config:
        return Path(path).stem
    parts = [Path(config["dataset"]).name, "×".join(map(str, config["grid"]))]
    if config.get("conditioning") == "spade":
        parts.append("SPADE")
    parts.append(f"λD {config.get('lambda_d', 0):g}")
    if config.get("pl_kind") == "low_distortion":
        parts.append(f"eq. 15 weight {config.get('pl_weight'):g}")
    return " · ".join(parts)


def available_models(root: str | Path | None = None, presets: tuple[str, ...] = ("cpu", "gpu", "paper"),
                     ) -> dict[str, Path]:
    """SSN generators a person would choose from, by a display name that says what each is:
    shipped ones (`models/<preset>/<name>.safetensors`) and finished runs (`runs/<preset>/…`) of
    `presets` — not the `ci` preset's test models."""
    found: dict[str, Path] = {}
    for preset in presets:
        shipped = sorted((Path(root or default_models_root()) / preset).glob("ssn*.safetensors"))
        for path in shipped:
            found[f"{preset} · {describe_model(path)} (shipped {path.stem})"] = path
        for path in sorted((Path(default_runs_root()) / preset).glob("ssn*/generator.safetensors")):
            found[f"{preset} · {describe_model(path)} (run {path.parent.name})"] = path
    return found
