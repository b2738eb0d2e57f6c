"""``python -m inference``: analyse images and videos.

python -m inference analyze PATH... [--json] [--annotate OUT.png] [--primary] [--tta MODE]
python -m inference video PATH [--fps N] [--json]
python -m inference bench [--json] [--repeats N] [--batch N] [--threads N]

The benchmark against the `fer` package is ``python -m benchmarks.pipeline``; ``bench`` runs it in
a child process (the library never imports the benchmarks, which live outside it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from inference.errors import InferenceError
from inference.preprocessing import TTA_MODES


def annotate_path(out: Path, index: int, total: int) -> Path:
    """``OUT.png`` for one input; ``OUT-1.png``, ``OUT-2.png``... for several."""
    return out if total == 1 else out.with_name(f"{out.stem}-{index + 1}{out.suffix or '.png'}")


def format_face(face: Any) -> str:
    ranked = sorted(face.emotions.items(), key=lambda kv: kv[1], reverse=True)
    top = "  ".join(f"{name} {p:.2f}" for name, p in ranked[:3])
    flags = f"  [{', '.join(face.quality.flags())}]" if not face.quality.ok else ""
    return f"  box {list(face.box)}  score {face.score:.2f}  {face.dominant.upper()}  ({top}){flags}"


def cmd_analyze(args: argparse.Namespace) -> int:
    from inference.annotate import save_annotated
    from inference.api import Options, default_engine

    options = Options(faces="primary" if args.primary else "all", min_face_size=args.min_face, tta=args.tta)
    engine = default_engine()
    status = 0
    for index, raw in enumerate(args.paths):
        path = Path(raw)
        try:
            frame = engine.frame(path.read_bytes(), options)
            result = engine.analyse_frames([frame], options)[0]
        except (InferenceError, OSError) as exc:
            status = 1
            message = str(exc) if isinstance(exc, InferenceError) else f"cannot read file: {exc.strerror or exc}"
            if args.json:
                print(json.dumps({"path": raw, "error": message, "faces": []}))
            else:
                print(f"{raw}: error: {message}", file=sys.stderr)
            continue
        if args.annotate:
            out = save_annotated(frame.bgr, result, annotate_path(Path(args.annotate), index, len(args.paths)))
        if args.json:
            print(json.dumps({"path": raw, **result.to_json()}))
        else:
            count = len(result.faces)
            print(
                f"{raw}: {count} face{'s' if count != 1 else ''} ({result.width}x{result.height}, "
                f"model {result.model_version})"
            )
            for face in result.faces:
                print(format_face(face))
        if args.annotate and not args.json:
            print(f"  annotated image: {out}")
    return status


def cmd_video(args: argparse.Namespace) -> int:
    from inference.api import Options
    from inference.video import analyse_video

    try:
        result = analyse_video(Path(args.path), args.fps, Options(faces="primary", tta=args.tta))
    except InferenceError as exc:
        if args.json:
            print(json.dumps({"path": args.path, "error": str(exc), "timeline": []}))
        else:
            print(f"{args.path}: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(
        f"{result.path}: {result.fps:.1f} fps, {result.frames_analysed} frames analysed at {args.fps:g}/s "
        f"(model {result.model_version})"
    )
    for sec in result.timeline:
        stamp = f"{sec.second // 60:02d}:{sec.second % 60:02d}"
        if sec.probabilities is None:
            print(f"  {stamp}  no face ({sec.frames} frames)")
            continue
        print(
            f"  {stamp}  {sec.dominant:<8} {max(sec.probabilities):.2f}  ({sec.frames_with_face}/{sec.frames} frames with a face)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference", description="Face emotion inference engine.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyze", aliases=["analyse"], help="faces and emotions in image files")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--annotate", metavar="OUT.png", help="write the image with boxes and labels")
    p.add_argument("--primary", action="store_true", help="only the largest face")
    p.add_argument("--min-face", type=int, default=20, help="ignore faces smaller than this (pixels)")
    p.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time augmentation")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("video", help="per-second emotion timeline of a video file")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--fps", type=float, default=2.0, help="frames sampled per second (default 2)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tta", choices=TTA_MODES, default="none")
    p.set_defaults(func=cmd_video)

    sub.add_parser("bench", help="the speed benchmark against the fer package (python -m benchmarks.pipeline)")
    return parser


def run_bench(argv: list[str]) -> int:
    """``python -m inference bench ...``: the old name of ``python -m benchmarks.pipeline ...``."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("benchmarks") is None:
        print(
            "error: the benchmarks are not installed here; run python -m benchmarks.pipeline from a checkout",
            file=sys.stderr,
        )
        return 2
    # A child process: the library stays free of any import of the benchmarks (layering contract).
    return subprocess.call([sys.executable, "-m", "benchmarks.pipeline", *argv])  # noqa: S603  # our interpreter, our module


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return run_bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except InferenceError as exc:  # e.g. no model registered: a clear message, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        if exc.__cause__ is not None:  # an operator at a terminal may see where (paths included)
            print(f"  because: {exc.__cause__}", file=sys.stderr)
        return 2
