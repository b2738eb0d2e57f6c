"""Training with per-epoch checkpoints and transparent resume.

A run lives in one directory: ``config.json`` (the recipe), ``last.keras`` (model and
optimizer after the latest finished epoch), ``best.keras`` (best PublicTest accuracy so far)
and ``state.json`` (epoch, best score, history). Starting the same run again resumes after
the last finished epoch; the learning-rate schedule is keyed on optimizer steps, so a resumed
run follows exactly the curve of an uninterrupted one.

A new run may start from the weights of another model (``init_from``, a ``.keras`` file):
the network is copied, the optimizer and schedule start fresh. This continues a run with a
different schedule, or fine-tunes the shipped model on a company's own labelled faces.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.classes import NUM_CLASSES
from inference.preprocessing import to_model_input
from ml.augment import AugmentConfig, make_augmenter
from ml.datasets import LabelledImages
from ml.distill import teacher_targets
from ml.model import ArchConfig, build_model


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 96
    batch_size: int = 128
    # AdamW: measured here, SGD (Nesterov, lr 0.05) sat on the majority class for 3 full
    # epochs (PublicTest 0.249) while AdamW at 1e-3 reached 0.56 by epoch 7 of the same recipe.
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    cycle_epochs: int = 16
    # Keras applies decoupled decay scaled by the learning rate (w -= lr * wd * w).
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    patience: int = 60
    # Machine-dependent, so float32 unless asked: mixed_bfloat16 was 10x slower on an AVX2-only
    # EPYC, 2x slower on a Xeon with AVX-512 BF16, and 1.6x faster on a Zen 4 EPYC (docs/decisions.md).
    precision: str = "float32"
    seed: int = 1337
    # Warm start: a .keras model whose weights (not optimizer) the run starts from.
    init_from: str = ""
    # Also snapshot each of the last N epochs (snapshot_XXX.keras), for `python -m ml average`.
    keep_last: int = 0
    # Distillation (ml/distill.py): a .keras teacher whose softened probabilities are mixed
    # into the labels with this weight.
    teacher: str = ""
    teacher_weight: float = 0.5
    teacher_temperature: float = 2.0
    arch: ArchConfig = field(default_factory=ArchConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    run_dir: Path
    best_path: Path
    best_val_accuracy: float
    best_epoch: int
    epochs_done: int
    history: list[dict[str, float]]


class RunMismatch(Exception):
    """The run directory holds a different recipe than the one asked for."""


def _configure_tf() -> None:
    """Set TensorFlow's environment; it is read once, when TensorFlow is first imported."""
    # oneDNN crashed on thin strided convs and ragged training batches on some CPUs; the
    # network has no 1x1 stride-2 convs and training batches drop the remainder.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN is off by default on AMD CPUs; on this EPYC it trains 1.6x faster than Eigen.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _compile(model: Any, cfg: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    # Cosine cycles with warm restarts: every cycle ends at a low learning rate with a usable
    # snapshot, so a run cut short by the end of a session still yields a converged model.
    schedule = keras.optimizers.schedules.CosineDecayRestarts(
        initial_learning_rate=cfg.learning_rate,
        first_decay_steps=max(1, min(cfg.cycle_epochs, cfg.epochs) * steps_per_epoch),
        t_mul=1.0,
        m_mul=0.8,
        alpha=0.005,
    )
    optimizer: Any
    if cfg.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _with_defaults(saved: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with the keys it lacks taken from ``defaults``, nested sections included."""
    merged = dict(defaults)
    for key, value in saved.items():
        default = defaults.get(key)
        merged[key] = _with_defaults(value, default) if isinstance(value, dict) and isinstance(default, dict) else value
    return merged


def stream_seed(cfg: TrainConfig, epochs_done: int) -> int:
    """Seed of the shuffling, augmentation and dropout streams from this point of a run on.

    One fixed seed would replay the same augmented batches in the same order after every
    resume, and in every run started from another run's weights. The network had just fitted
    exactly those batches: measured here, training accuracy jumped from 0.76 to 0.82-0.87 for
    the 9 replayed epochs and fell back to 0.79 at the first new one. The seed therefore also
    depends on the epochs already done and on the starting weights; it is still deterministic.
    """
    key = f"{cfg.seed}:{epochs_done}:{cfg.init_from}".encode()
    return zlib.crc32(key) & 0x7FFFFFFF


def _datasets(
    train: LabelledImages,
    val: LabelledImages,
    cfg: TrainConfig,
    seed: int,
    targets: npt.NDArray[np.float32] | None = None,
) -> tuple[Any, Any, int]:
    """Augmented training batches and PublicTest batches; ``targets`` replace one-hot labels."""
    import tensorflow as tf

    augment = make_augmenter(cfg.augment, seed)
    n = len(train)
    batch = min(cfg.batch_size, n)
    x = train.images[..., None]
    y = np.eye(NUM_CLASSES, dtype=np.float32)[train.labels] if targets is None else targets
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(n, seed=seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=True)  # ragged last batches crashed oneDNN here
        .map(lambda xb, yb: (augment(tf.cast(xb, tf.float32) / 255.0), yb), num_parallel_calls=1)
        .prefetch(2)
    )
    vx = to_model_input(val.images)
    vy = np.eye(NUM_CLASSES, dtype=np.float32)[val.labels]
    val_ds = tf.data.Dataset.from_tensor_slices((vx, vy)).batch(512)
    return train_ds, val_ds, n // batch


def train(
    train_data: LabelledImages,
    val_data: LabelledImages,
    run_dir: Path,
    cfg: TrainConfig = TrainConfig(),
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) the run in ``run_dir`` and return where its best model is.

    The recipe's precision policy holds for the run only; the caller's is restored after it.
    """
    _configure_tf()
    with _precision(cfg.precision):
        return _train(train_data, val_data, run_dir, cfg, log)


@contextmanager
def _precision(policy: str) -> Iterator[None]:
    """Keras's global precision policy set to ``policy`` inside the block only."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(
    train_data: LabelledImages, val_data: LabelledImages, run_dir: Path, cfg: TrainConfig, log: Callable[[str], None]
) -> TrainResult:
    import keras

    run_dir.mkdir(parents=True, exist_ok=True)
    config_file, state_file = run_dir / "config.json", run_dir / "state.json"
    last_path, best_path = run_dir / "last.keras", run_dir / "best.keras"
    if config_file.exists():
        # A run may be extended (more epochs, more patience); anything else is another recipe.
        extendable = {"epochs", "patience"}
        # Keys added to the recipe after a run started take their defaults (which keep the
        # behaviour of before they existed).
        saved_cfg = _with_defaults(json.loads(config_file.read_text()), json.loads(json.dumps(TrainConfig().as_dict())))
        saved = {k: v for k, v in saved_cfg.items() if k not in extendable}
        wanted = {k: v for k, v in json.loads(json.dumps(cfg.as_dict())).items() if k not in extendable}
        if saved != wanted:
            raise RunMismatch(f"{run_dir} was started with another recipe; use a new --run directory")
    # Before the recipe is written: a teacher that cannot be used leaves no run behind.
    targets = None
    if cfg.teacher:
        targets = teacher_targets(
            run_dir, Path(cfg.teacher), train_data, cfg.teacher_weight, cfg.teacher_temperature, cfg.arch.input_size
        )
        log(f"soft targets from teacher {cfg.teacher} (weight {cfg.teacher_weight}, T {cfg.teacher_temperature})")
    config_file.write_text(json.dumps(cfg.as_dict(), indent=2))

    state: dict[str, Any] = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": []}
    resuming = state_file.exists() and last_path.exists()
    if resuming:
        state = json.loads(state_file.read_text())
    seed = stream_seed(cfg, state["epoch"])
    keras.utils.set_random_seed(seed)
    train_ds, val_ds, steps = _datasets(train_data, val_data, cfg, seed, targets)

    if resuming:
        model = keras.models.load_model(last_path)
        log(f"resuming {run_dir} after epoch {state['epoch']} (best {state['best_val_accuracy']:.4f})")
    else:
        model = build_model(cfg.arch)
        if cfg.init_from:
            model.set_weights(keras.models.load_model(cfg.init_from, compile=False).get_weights())
            log(f"weights from {cfg.init_from}")
        _compile(model, cfg, steps)
        log(f"new run {run_dir}: {model.count_params():,} parameters, {steps} steps/epoch")

    progress = _progress_callback(cfg, state, run_dir, log)
    if state["epoch"] < cfg.epochs and state["epoch"] - state["best_epoch"] < cfg.patience:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=state["epoch"],
            callbacks=[progress],
            verbose=0,
        )
    if not best_path.exists():
        _save_without_optimizer(model, best_path, cfg.arch)
    return TrainResult(
        run_dir=run_dir,
        best_path=best_path,
        best_val_accuracy=float(state["best_val_accuracy"]),
        best_epoch=int(state["best_epoch"]),
        epochs_done=int(state["epoch"]),
        history=list(state["history"]),
    )


def _save_without_optimizer(model: Any, path: Path, arch: ArchConfig) -> None:
    """Save the network alone, in float32: a third of the size with AdamW's two slots per weight.

    Only ``last.keras`` keeps the optimizer (to resume); best and snapshot models are for
    export and weight averaging, so a mixed-precision run's saved models compute in float32
    like every other version (the weights themselves are float32 under either policy).
    """
    # A fresh float32 build, not keras.models.clone_model: that keeps the training policy and
    # compiles the clone with the original's optimizer.
    with _precision("float32"):
        network = build_model(arch)
    network.set_weights(model.get_weights())
    network.save(path)


def _progress_callback(cfg: TrainConfig, state: dict[str, Any], run_dir: Path, log: Callable[[str], None]) -> Any:
    """Checkpoint every epoch, keep the best model, stop early, and print progress with ETA.

    A factory rather than a module-level class so Keras is imported only when training starts.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self.started = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = dict(logs or {})
            seconds = time.monotonic() - self.started
            val_acc = float(logs.get("val_accuracy", 0.0))
            row = {k: round(float(v), 5) for k, v in logs.items()}
            row.update(epoch=epoch + 1, seconds=round(seconds, 1))
            state["history"].append(row)
            state["epoch"] = epoch + 1
            in_tail = epoch + 1 > cfg.epochs - cfg.keep_last
            if (epoch + 1) % cfg.cycle_epochs == 0 or in_tail:
                _save_without_optimizer(self.model, run_dir / f"snapshot_{epoch + 1:03d}.keras", cfg.arch)
            if val_acc > state["best_val_accuracy"]:
                state["best_val_accuracy"], state["best_epoch"] = val_acc, epoch + 1
                _save_without_optimizer(self.model, run_dir / "best.keras", cfg.arch)
            # Write the model first, then the state: a crash in between only repeats an epoch.
            self.model.save(run_dir / "last.keras.tmp.keras")
            os.replace(run_dir / "last.keras.tmp.keras", run_dir / "last.keras")
            (run_dir / "state.json.tmp").write_text(json.dumps(state, indent=1))
            os.replace(run_dir / "state.json.tmp", run_dir / "state.json")
            recent = [h["seconds"] for h in state["history"][-5:]]
            eta = (cfg.epochs - epoch - 1) * (sum(recent) / len(recent))
            log(
                f"epoch {epoch + 1}/{cfg.epochs} loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_loss {logs.get('val_loss', 0):.4f} "
                f"val_acc {val_acc:.4f} best {state['best_val_accuracy']:.4f}@{state['best_epoch']} "
                f"{seconds:.0f}s/epoch, about {eta / 60:.0f} min left"
            )
            if epoch + 1 - state["best_epoch"] >= cfg.patience:
                log(f"early stop: no PublicTest improvement for {cfg.patience} epochs")
                self.model.stop_training = True

    return Progress()
