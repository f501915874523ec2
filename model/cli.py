"""`reverie train`, `reverie export`, `reverie eval`: the model's commands."""

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
    train.add_argument("--lr", type=float, help="peak learning rate (cosine decay)")
    train.add_argument("--init", help="start from this weights folder (fine-tuning)")
    train.add_argument("--runtime-weight", type=float, help="weight of the loss on the run-time output (default 0)")
    train.add_argument(
        "--temporal-weight",
        type=float,
        help="weight of the loss on its frame-to-frame change against the ground truth's (default 0)",
    )
    train.add_argument(
        "--shift-weight", type=float, help="weight of the run-time output's consistency under 1-3 px shifts (default 0)"
    )
    train.add_argument("--crop", type=int, help="train on CROP x CROP windows of SIZE x SIZE renders (0: whole frames)")
    train.add_argument(
        "--adversarial-weight", type=float, help="weight of the patch critic's term on the run-time output (0: none)"
    )
    train.add_argument(
        "--adversarial-start", type=int, help="step from which the critic trains (its weight then ramps up)"
    )
    train.add_argument("--out", type=Path, default=Path("runs/train"))
    train.add_argument("--resume", action="store_true", help="continue from OUT/latest")
    train.set_defaults(func=cmd_train)

    publish = commands.add_parser(
        "publish", help="copy a training checkpoint into the shipped-weights folder with its inference settings"
    )
    publish.add_argument("run", type=Path, help="a checkpoint folder, e.g. runs/train/latest")
    publish.add_argument(
        "--history-trust",
        type=float,
        default=0.0,
        help="added to the history gate's logit at inference (measured with reverie eval --history-trust)",
    )
    publish.add_argument("--look-trust", type=parse_look_trust, default={}, help=LOOK_TRUST_HELP)
    publish.add_argument("--out", type=Path, default=Path("model/weights"))
    publish.set_defaults(func=cmd_publish)

    export = commands.add_parser("export", help="export trained weights to ONNX and check it against torch")
    export.add_argument(
        "--weights", type=Path, default=Path("model/weights"), help="folder with model.safetensors and config.json"
    )
    export.add_argument("--out", type=Path, default=Path("runs/model.onnx"))
    export.set_defaults(func=cmd_export)

    ev = commands.add_parser("eval", help="held-out worlds: PSNR, SSIM, E_warp, drift and detail energy per style")
    ev.add_argument("--weights", type=Path, default=Path("model/weights"))
    ev.add_argument("--seed", type=int, default=1000, help="a held-out world seed (>= 1000)")
    ev.add_argument("--frames", type=int, default=300)
    ev.add_argument("--size", default="256x256")
    ev.add_argument(
        "--style",
        default="all",
        help="a style name (a trained one or an extra one, e.g. blueprint) or all (the 8 trained styles)",
    )
    ev.add_argument("--prompts", choices=("train", "heldout"), default="train")
    ev.add_argument(
        "--raw-prompts",
        action="store_true",
        help="feed the raw prompt embedding, not its projection on the prompt bank",
    )
    ev.add_argument(
        "--path",
        default="mixed",
        help="camera path: mixed (every movement, cuts between) or one kind, e.g. orbit (no cuts: drift)",
    )
    ev.add_argument("--steps", type=int, default=1)
    ev.add_argument("--no-history", action="store_true", help="stylize every frame on its own (the per-frame baseline)")
    ev.add_argument(
        "--history-trust",
        type=float,
        help="added to the history gate's logit, every look alike unless --look-trust "
        "(default: the weights' config.json, else 0)",
    )
    ev.add_argument("--look-trust", type=parse_look_trust, default={}, help=LOOK_TRUST_HELP)
    ev.add_argument(
        "--start-sigma",
        type=float,
        help="start each frame from the warped history noised to this level "
        "(default: from the prior's mean at sigma 20, no noise drawn: what the daemon runs)",
    )
    ev.add_argument("--curves", type=Path, help="also write the per-frame PSNR curves here (JSON)")
    ev.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="evaluate styles in this many processes at once, one thread each (2 on a 2-core machine)",
    )
    ev.add_argument(
        "--game-size",
        help="evaluate at this game size (e.g. 1920x1080) through the daemon's stylizer stage, "
        "against the ground truth rendered at that size (instead of --size, straight through the network)",
    )
    ev.add_argument(
        "--work-height",
        type=int,
        default=256,
        help="with --game-size: the stylizer's working height (the daemon's --work-height)",
    )
    ev.add_argument("--backend", help="with --game-size: the stylizer's inference backend (default: the daemon's)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import PRESETS, train, with_overrides

    config = with_overrides(
        PRESETS[args.preset],
        steps=args.steps,
        batch=args.batch,
        size=args.size,
        ablation=args.ablation,
        seed=args.seed,
        lr=args.lr,
        init=args.init,
        runtime_weight=args.runtime_weight,
        temporal_weight=args.temporal_weight,
        shift_weight=args.shift_weight,
        crop=args.crop,
        adversarial_weight=args.adversarial_weight,
        adversarial_start=args.adversarial_start,
    )
    print(
        f"training {config.preset} preset ({config.ablation}) for {config.steps} steps into {args.out}", file=sys.stderr
    )
    print(json.dumps(config.to_dict()), file=sys.stderr)
    folder = train(config, args.out, resume=args.resume)
    print(f"weights: {folder / 'model.safetensors'}  config: {folder / 'config.json'}")
    return 0


LOOK_TRUST_HELP = (
    "the history trust of the trained styles that settle at another: STYLE=T[,STYLE=T] "
    "(e.g. thermal=3; model/look_trust.py)"
)


def parse_look_trust(text: str) -> dict[str, float]:
    """'thermal=3,noir=1' -> {"thermal": 3.0, "noir": 1.0}."""
    looks = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        try:
            looks[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected STYLE=TRUST, e.g. thermal=3; got {item!r}") from None
    return looks


def look_trust(weights: Path, history_trust: float | None, looks: dict[str, float]):
    """The trust `reverie eval` runs at: the weights' own unless --history-trust or
    --look-trust says otherwise (--history-trust alone: one trust for every look)."""
    from .look_trust import LookTrust
    from .weights import look_trust as weights_trust

    own = weights_trust(weights)
    if history_trust is None and not looks:
        return own
    try:
        return LookTrust.of(own.default if history_trust is None else history_trust, looks)
    except ValueError as exc:
        raise SystemExit(f"reverie eval: --look-trust: {exc}") from None


def cmd_publish(args: argparse.Namespace) -> int:
    from .look_trust import LookTrust
    from .weights import publish_weights

    try:
        trust = LookTrust.of(args.history_trust, args.look_trust)
    except ValueError as exc:
        print(f"reverie publish: --look-trust: {exc}", file=sys.stderr)
        return 2
    folder = publish_weights(args.run, args.out, trust)
    print(f"published {args.run} into {folder} (history trust {trust.describe()})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx, parity
    from .weights import load_model

    model = load_model(args.weights)
    path = export_onnx(model, args.out)
    stride = model.config.stride
    error = parity(model, path, [(256, 256), (432, 768), (2 * stride, 3 * stride)])
    print(f"wrote {path}; largest relative error against torch {error:.2e} (limit 1e-3)")
    return 0 if error < 1e-3 else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from reverie.common.cli_args import parse_size, print_progress

    from .backends.cache import sha256_file
    from .evaluate import evaluate
    from .weights import load_model
    from .world.looks import ALL_STYLES, STYLES

    width, height = parse_size(args.size)
    styles = list(STYLES) if args.style == "all" else [args.style]
    for name in styles:
        if name not in ALL_STYLES:
            print(f"reverie eval: unknown style {name!r}; known: {', '.join(ALL_STYLES)}", file=sys.stderr)
            return 2
    if args.game_size:
        return _eval_game_size(args, styles)
    model = load_model(args.weights)
    trust = look_trust(args.weights, args.history_trust, args.look_trust)
    total, done = len(styles) * args.frames, [0]

    def progress() -> None:
        done[0] += 1
        print_progress(done[0], total)

    result = evaluate(
        model,
        args.prompts,
        styles,
        args.seed,
        args.frames,
        width,
        height,
        args.steps,
        not args.no_history,
        progress,
        args.start_sigma,
        args.path,
        not args.raw_prompts,
        args.jobs,
        trust,
    )
    result["weights_sha256"] = sha256_file(args.weights / "model.safetensors")  # which weights these figures are of
    if args.curves:
        args.curves.write_text(json.dumps({k: v["psnr_curve"] for k, v in result["styles"].items()}))
    for figures in result["styles"].values():
        figures.pop("psnr_curve")
    if not args.json:
        for name, f in result["styles"].items():
            print(
                f"  {name:<11} psnr {f['psnr']:.2f}  ssim {f['ssim']:.3f}  "
                f"ewarp {f['ewarp']:.4f} (gt {f['ewarp_gt']:.4f})  "
                f"drift {f['psnr_first100']:.2f} -> {f['psnr_last100']:.2f}"
                + (f" (same view {f['psnr_same_view']:.2f})" if "psnr_same_view" in f else "")
                + _detail_text(f)
            )
    print(json.dumps(result))
    return 0


def _detail_text(f: dict) -> str:
    grid = f"  grid {f['grid_out']:.2f} (gt {f['grid_gt']:.2f})" if "grid_out" in f else ""
    edge = f"  edge {f['edge_out']:.2f} (gt {f['edge_gt']:.2f})" if "edge_out" in f else ""
    trust = f"  trust {f['history_trust']:g}" if "history_trust" in f else ""
    return (f"  detail {f['detail']:.2f}" if "detail" in f else "") + grid + edge + trust


def _eval_game_size(args: argparse.Namespace, styles: list[str]) -> int:
    """`reverie eval --game-size WxH`: through the stylizer stage at the game's size."""
    from reverie.common.cli_args import parse_size, print_progress

    from .evaluate import evaluate_game_size, model_stylizers
    from .resize import working_size

    unsupported = [
        flag
        for flag, given in (
            ("--no-history", args.no_history),
            ("--start-sigma", args.start_sigma is not None),
            ("--jobs", args.jobs != 1),
        )
        if given
    ]
    if unsupported:
        print(
            f"reverie eval: {', '.join(unsupported)} do not apply with --game-size "
            "(the daemon's stage runs as it runs)",
            file=sys.stderr,
        )
        return 2
    width, height = parse_size(args.game_size)
    stylizer_for = model_stylizers(
        args.weights,
        args.work_height,
        args.backend,
        look_trust(args.weights, args.history_trust, args.look_trust),
        not args.raw_prompts,
    )
    total, done = len(styles) * args.frames, [0]

    def progress() -> None:
        done[0] += 1
        print_progress(done[0], total)

    result = evaluate_game_size(
        stylizer_for, styles, args.seed, args.frames, width, height, args.steps, args.prompts, args.path, progress
    )
    stage = stylizer_for.describe()
    work = working_size(width, height, args.work_height, stage.pop("stride"))
    result = {**result, **stage, "work_size": f"{work[0]}x{work[1]}", "prompt_bank": not args.raw_prompts}
    if args.curves:
        args.curves.write_text(json.dumps({k: v["psnr_curve"] for k, v in result["styles"].items()}))
    for figures in result["styles"].values():
        figures.pop("psnr_curve")
    if not args.json:
        print(
            f"  {result['game_size']} through {result['stylizer']} at {result['work_size']}: "
            f"{result['seconds']:.0f} s, "
            f"{result['stylize_ms']:.0f} ms a stylized frame"
        )
        for name, f in result["styles"].items():
            print(
                f"  {name:<11} psnr {f['psnr']:.2f}  ssim {f['ssim']:.3f}  "
                f"ewarp {f['ewarp']:.4f} (gt {f['ewarp_gt']:.4f})" + _detail_text(f)
            )
    print(json.dumps(result))
    return 0
