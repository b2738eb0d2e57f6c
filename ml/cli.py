"""``python -m ml``: train, evaluate, export, activate and inspect emotion models."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ml.datasets import DatasetError, LabelledImages, load

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "fer2013"


def _load(path: str, split: str | None, limit: int | None, seed: int) -> LabelledImages:
    data = load(path, split)
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
    from ml.model import ArchConfig
    from ml.train import TrainConfig, train

    cfg = TrainConfig()
    arch = cfg.arch
    if args.widths:
        arch = replace(arch, widths=tuple(int(w) for w in args.widths.split(",")))
    cfg = replace(
        cfg,
        arch=ArchConfig(**{**arch.as_dict(), "widths": arch.widths}),
        **{k: v for k, v in {
            "epochs": args.epochs, "batch_size": args.batch_size, "cycle_epochs": args.cycle_epochs,
            "learning_rate": args.learning_rate, "seed": args.seed,
        }.items() if v is not None},
    )
    train_data = _load(args.train, args.train_split, args.limit, cfg.seed)
    val_data = _load(args.val, args.val_split, args.limit and max(64, args.limit // 4), cfg.seed)
    print(f"train: {json.dumps(train_data.stats()['counts'])}", flush=True)
    result = train(train_data, val_data, Path(args.run), cfg, log=lambda m: print(m, flush=True))
    print(json.dumps({
        "run": str(result.run_dir), "best": str(result.best_path),
        "best_val_accuracy": result.best_val_accuracy, "best_epoch": result.best_epoch,
        "epochs_done": result.epochs_done,
    }))
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
    p.add_argument("--widths", help="conv widths per stage, e.g. 32,64,128,256")
    p.add_argument("--limit", type=int, help="use a seeded subset of this many training images")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
