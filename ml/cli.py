"""``python -m ml``: train, evaluate, export, activate and inspect emotion models."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference import registry
from inference.detect import BlazeFace
from inference.preprocessing import crop_face
from ml.average import CheckpointMismatch, average_checkpoints
from ml.datasets import DEFAULT_DATA, DatasetError, FaceCropper, LabelledImages, load
from ml.distill import TeacherError
from ml.ensemble import EnsembleMismatch, combine
from ml.evaluate import evaluate, write_plots
from ml.export import export, scorer_for
from ml.model import ArchConfig
from ml.registry import activate, follow_active, restore_previous
from ml.scoring import Scorer, keras_logits_fn
from ml.train import TrainConfig, train


def detector_cropper() -> FaceCropper:
    """Crop faces with the serving detector (``inference``), exactly as production does.

    Only image-folder data sets of whole photos need it; the detector loads when called.
    """
    detector = BlazeFace()

    def crop(gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        faces = detector.detect(np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), dtype=np.uint8))
        if not faces:
            return None
        largest = max(faces, key=lambda f: f.box[2] * f.box[3])
        return crop_face(gray, largest.box)

    return crop


def _load(path: str, split: str | None, limit: int | None, seed: int, crop_faces: bool = True) -> LabelledImages:
    data = load(path, split, detector_cropper() if crop_faces and Path(path).is_dir() else None)
    for problem in data.problems[:20]:
        print(f"warning: {problem}", file=sys.stderr)
    if len(data.problems) > 20:
        print(f"warning: ... {len(data.problems) - 20} more problems", file=sys.stderr)
    if limit:
        data = data.subset(limit, seed)
    if not len(data):
        raise DatasetError(f"{path}: no usable images")
    return data


def cmd_stats(args: argparse.Namespace) -> int:
    print(json.dumps(_load(args.data, args.split, None, 0).stats(), indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    cfg = TrainConfig()
    arch = cfg.arch
    if args.camera_augment is not None:
        cfg = replace(cfg, augment=replace(cfg.augment, camera_prob=args.camera_augment))
    if args.widths:
        arch = replace(arch, widths=tuple(int(w) for w in args.widths.split(",")))
    cfg = replace(
        cfg,
        arch=ArchConfig(**{**arch.as_dict(), "widths": arch.widths}),
        **{
            k: v
            for k, v in {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "cycle_epochs": args.cycle_epochs,
                "learning_rate": args.learning_rate,
                "optimizer": args.optimizer,
                "precision": args.precision,
                "weight_decay": args.weight_decay,
                "seed": args.seed,
                "init_from": args.init_from,
                "keep_last": args.keep_last,
                "teacher": args.teacher,
                "teacher_weight": args.teacher_weight,
                "teacher_temperature": args.teacher_temperature,
            }.items()
            if v is not None
        },
    )
    train_data = _load(args.train, args.train_split, args.limit, cfg.seed)
    val_data = _load(args.val, args.val_split, args.limit and max(64, args.limit // 4), cfg.seed)
    print(f"train: {json.dumps(train_data.stats()['counts'])}", flush=True)
    result = train(train_data, val_data, Path(args.run), cfg, log=lambda m: print(m, flush=True))
    print(
        json.dumps(
            {
                "run": str(result.run_dir),
                "best": str(result.best_path),
                "best_val_accuracy": result.best_val_accuracy,
                "best_epoch": result.best_epoch,
                "epochs_done": result.epochs_done,
            }
        )
    )
    return 0


def _scorer(model: str) -> Scorer:
    """Resolve ``active``, a registered version name or a ``.keras`` file to a scorer."""
    if model.endswith(".keras") and Path(model).is_file():
        import keras

        return Scorer(version=Path(model).stem, logits=keras_logits_fn(keras.models.load_model(model)))
    info = registry.active() if model == "active" else registry.get(model)
    registry.verify(info)
    return scorer_for(info)


def cmd_evaluate(args: argparse.Namespace) -> int:
    data = _load(args.data, args.split, args.limit, 0, crop_faces=not args.no_face_crop)
    scorer = _scorer(args.model)
    report = evaluate(
        scorer,
        data,
        tta=args.tta,
        tta_mode=args.tta_mode,
        with_peer=not args.no_peer,
        with_timing=not args.no_timing,
        with_robustness=args.robustness,
    )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        write_plots(report, out)
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    return 0


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"model {report['model_version']} ({report['backend']}) on {report['data']}, n={report['n']}, "
        f"TTA {report['tta']}"
    )
    print(
        f"  accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  ECE {report['ece']:.4f}  "
        f"(without TTA: {report['results']['plain']['accuracy']:.4f})"
    )
    print("  recall " + "  ".join(f"{k} {v:.2f}" for k, v in report["per_class_recall"].items()))
    if "speed" in report:
        print(
            f"  speed: single face {report['speed']['single_face_ms_p50']} ms, "
            f"{report['speed']['batched_faces_per_s']} faces/s batched"
        )
    peer = report.get("peer")
    if peer and "accuracy" in peer:
        print(
            f"peer {peer['name']}: accuracy {peer['accuracy']:.4f}  macro-F1 {peer['macro_f1']:.4f}  "
            f"ECE {peer['ece']:.4f}"
        )
    robust = report.get("robustness")
    if robust:
        print(f"accuracy under camera conditions (TTA {robust['tta']}; peer in brackets):")
        print(
            "  "
            + "  ".join(
                f"{name} {row['accuracy']:.3f}" + (f" [{row['peer_accuracy']:.3f}]" if "peer_accuracy" in row else "")
                for name, row in robust["conditions"].items()
            )
        )


def cmd_export(args: argparse.Namespace) -> int:
    run = Path(args.run) if args.run else None
    keras_path = Path(args.keras) if args.keras else (run / "best.keras" if run else None)
    if keras_path is None or not keras_path.is_file():
        raise DatasetError(f"no trained model at {keras_path}; pass --run DIR or --keras FILE")
    training: dict[str, object] = {}
    if run and (run / "state.json").exists():
        state = json.loads((run / "state.json").read_text())
        training = {k: state[k] for k in ("epoch", "best_epoch", "best_val_accuracy")}
        training["epochs_done"] = training.pop("epoch")
        training["config"] = json.loads((run / "config.json").read_text())
        training["history"] = state["history"]
    if args.notes:
        training["notes"] = args.notes
    val = _load(args.val, args.val_split, args.limit, 0)
    info, report = export(
        keras_path,
        args.version,
        val,
        tta_mode=args.tta_mode,
        training=training,
        with_peer=not args.no_peer,
        quantize=not args.no_int8,
        keep_keras=not args.serving_only,
    )
    _print_report(report)
    print(f"registered {info.version} in {info.path}")
    if args.activate:
        activate(info.version)
        print(f"activated {info.version}")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    bn_data = _load(args.data, args.split, args.limit, 0)
    out = average_checkpoints([Path(p) for p in args.checkpoints], bn_data, Path(args.out))
    print(f"wrote {out}")
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    out = combine([Path(p) for p in args.models], Path(args.out))
    print(f"wrote {out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    try:
        current = registry.active_version()
    except registry.RegistryError:
        current = ""
    live = registry.live_pointer() or current
    for info in registry.versions():
        mark = ("*" if info.version == current else " ") + ("L" if info.version == live else " ")
        acc = info.metrics.get("accuracy")
        print(f"{mark} {info.version:24} {info.created_at:26} accuracy {acc} ({info.metrics.get('tta')})")
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    channel: registry.Channel = "live" if args.live else "active"
    if args.follow_active:
        if not args.live:
            raise registry.RegistryError("--follow-active applies to the live channel: add --live")
        follow_active()
        print(f"live frames: the active model ({registry.active_version()})")
        return 0
    info = restore_previous(channel=channel) if args.previous else activate(args.version, channel=channel)
    print(f"{'live' if args.live else 'active'} model: {info.version}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stats", help="class statistics of a labelled data set")
    p.add_argument("data")
    p.add_argument("--split")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("train", help="train or resume a run (checkpoints every epoch)")
    p.add_argument("--train", default=str(DEFAULT_DATA / "fer2013-train.npz"))
    p.add_argument("--train-split", help="split name inside a CSV or folder data set (e.g. Training)")
    p.add_argument("--val", default=str(DEFAULT_DATA / "fer2013-publictest.npz"))
    p.add_argument("--val-split", help="split name inside a CSV or folder data set (e.g. PublicTest)")
    p.add_argument("--run", required=True, help="run directory; an existing run is resumed")
    p.add_argument("--epochs", type=int)
    p.add_argument("--cycle-epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--optimizer", choices=["sgd", "adamw"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16"],
        help="compute precision (default float32); bfloat16 pays off only on CPUs that run it natively: time both",
    )
    p.add_argument("--widths", help="conv widths per stage, e.g. 32,64,128,256")
    p.add_argument("--limit", type=int, help="use a seeded subset of this many training images")
    p.add_argument("--seed", type=int)
    p.add_argument("--init-from", help="start from this .keras model's weights (fresh optimizer and schedule)")
    p.add_argument("--keep-last", type=int, help="also snapshot each of the last N epochs (for `ml average`)")
    p.add_argument(
        "--camera-augment", type=float, help="share of training faces degraded like a webcam's (default 0: off)"
    )
    p.add_argument("--teacher", help="distil: mix this .keras model's probabilities into the labels")
    p.add_argument("--teacher-weight", type=float, help="share of the teacher in the targets (default 0.5)")
    p.add_argument("--teacher-temperature", type=float, help="softening of the teacher's logits (default 2)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("average", help="average the weights of a run's last checkpoints (SWA)")
    p.add_argument("checkpoints", nargs="+", help=".keras checkpoints of one network")
    p.add_argument("--out", required=True, help="where to write the averaged .keras model")
    p.add_argument("--data", default=str(DEFAULT_DATA / "fer2013-train.npz"), help="faces for batch-norm statistics")
    p.add_argument("--split")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("ensemble", help="combine trained models into one that averages their logits")
    p.add_argument("models", nargs="+", help=".keras models with the same input")
    p.add_argument("--out", required=True, help="where to write the ensemble .keras model")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("evaluate", help="report on a model: accuracy, F1, recall, calibration, speed, peer")
    p.add_argument("--model", default="active", help="'active', a registered version, or a .keras file")
    p.add_argument("--data", default=str(DEFAULT_DATA / "fer2013-publictest.npz"))
    p.add_argument("--split")
    p.add_argument("--limit", type=int)
    p.add_argument("--tta", action="store_true", help="test-time augmentation (as used in production)")
    p.add_argument("--tta-mode", default="ten", choices=["flip", "ten"])
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--out", help="also write report.json and PNG plots into this directory")
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument(
        "--robustness", action="store_true", help="also accuracy under camera-like conditions (ml/robustness.py)"
    )
    p.add_argument(
        "--no-face-crop",
        action="store_true",
        help="image folders: use photos whole instead of cropping the detected face (as serving does)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="calibrate, evaluate and register a trained model as a new version")
    p.add_argument("--run", help="run directory (uses its best.keras and training history)")
    p.add_argument("--keras", help="a .keras file instead of a run's best")
    p.add_argument("--version", required=True)
    p.add_argument("--val", default=str(DEFAULT_DATA / "fer2013-publictest.npz"))
    p.add_argument("--val-split")
    p.add_argument("--limit", type=int)
    p.add_argument("--tta-mode", default="ten", choices=["none", "flip", "ten"])
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--activate", action="store_true")
    p.add_argument("--no-int8", action="store_true", help="serve float32 even if int8 keeps accuracy")
    p.add_argument(
        "--serving-only",
        action="store_true",
        help="ship the serving graph without model.keras (an ensemble of registered versions: see --notes)",
    )
    p.add_argument("--notes", help="how the exported weights were made, for the model card (e.g. weight averaging)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("models", help="list registered model versions (* = active, L = serves live frames)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("activate", help="activate a registered version, or --previous to roll back")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?")
    group.add_argument("--previous", action="store_true")
    group.add_argument("--follow-active", action="store_true", help="with --live: live frames use the active model")
    p.add_argument("--live", action="store_true", help="the version for live camera frames (the LIVE pointer)")
    p.set_defaults(func=cmd_activate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (DatasetError, registry.RegistryError, CheckpointMismatch, EnsembleMismatch, TeacherError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
