"""`reverie train`, `reverie export`: the model's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction, benches: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train the denoiser on sequences the world renders on the fly")
    train.add_argument("--preset", choices=("cpu", "gpu"), default="cpu")
    train.add_argument("--steps", type=int)
    train.add_argument("--batch", type=int)
    train.add_argument("--size", type=int, help="training frame size (square)")
    train.add_argument("--ablation", choices=("full", "no_augment", "no_history"))
    train.add_argument("--seed", type=int)
    train.add_argument("--out", type=Path, default=Path("runs/train"))
    train.add_argument("--resume", action="store_true", help="continue from OUT/latest")
    train.set_defaults(func=cmd_train)

    export = commands.add_parser("export", help="export trained weights to ONNX and check it against torch")
    export.add_argument("--weights", type=Path, default=Path("model/weights"), help="folder with model.safetensors and config.json")
    export.add_argument("--out", type=Path, default=Path("runs/model.onnx"))
    export.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from .train import PRESETS, train, with_overrides

    config = with_overrides(PRESETS[args.preset], steps=args.steps, batch=args.batch, size=args.size, ablation=args.ablation, seed=args.seed)
    if args.preset == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"training {config.preset} preset ({config.ablation}) for {config.steps} steps into {args.out}", file=sys.stderr)
    print(json.dumps(config.to_dict()), file=sys.stderr)
    folder = train(config, args.out, resume=args.resume)
    print(f"weights: {folder / 'model.safetensors'}  config: {folder / 'config.json'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx, parity
    from .train import load_model

    model, _ = load_model(args.weights)
    path = export_onnx(model, args.out)
    stride = model.config.stride
    error = parity(model, path, [(256, 256), (432, 768), (2 * stride, 3 * stride)])
    print(f"wrote {path}; largest relative error against torch {error:.2e} (limit 1e-3)")
    return 0 if error < 1e-3 else 1
