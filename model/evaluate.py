"""Evaluation on held-out worlds (seeds never trained on) with training or held-out
prompts: per style PSNR and SSIM against the ground truth, E_warp of the output and of
the ground truth, and drift (PSNR of the first and of the last 100 frames of one long
autoregressive rollout, the model always fed its own previous output)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator

import numpy as np
import torch
from torch.nn import functional as F

from .history import warp, warp_error
from .network import Denoiser, game_planes
from .step import next_output
from .world.coherence import occlusion_valid
from .world.camera import orbit_lap_frames
from .world.sequence import MIXED, SequenceSpec, render_sequence
from .world.styles import style as find_style

EVAL_WORLD_SEEDS_FROM = 1000  # training draws world seeds below this
DRIFT_WINDOW = 100
FIGURES = ("psnr", "ssim", "ewarp", "ewarp_gt", "psnr_first100", "psnr_last100")  # every style's, and their means


@dataclass
class RolloutFrame:
    output: np.ndarray  # (H, W, 3) uint8
    target: np.ndarray  # (H, W, 3) uint8
    color: np.ndarray
    depth: np.ndarray
    prev_depth: np.ndarray
    motion: np.ndarray
    reset: bool


def _tensor(image: np.ndarray) -> torch.Tensor:
    array = torch.from_numpy(np.ascontiguousarray(image, np.float32))
    return array.permute(2, 0, 1)[None] if array.ndim == 3 else array[None, None]


def rollout(model: Denoiser, style: str, prompt: np.ndarray, seed: int, frames: int, width: int, height: int,
            steps: int = 1, history: bool = True, start_sigma: float | None = None, path: str = MIXED,
            history_trust: float = 0.0) -> Iterator[RolloutFrame]:
    """Stylize a held-out world sequence frame by frame, each frame's history being the
    model's own previous output warped by the engine motion (dropped on cuts). One prompt
    throughout, so `history_trust` is the steady-state value the daemon runs at."""
    generator = torch.Generator().manual_seed(seed)
    prompt_t = torch.from_numpy(np.array(prompt, np.float32))[None]
    previous: torch.Tensor | None = None
    previous_depth: torch.Tensor | None = None
    for frame in render_sequence(SequenceSpec(seed, frames, width, height, path, (style,))):
        depth, motion = _tensor(frame.depth), _tensor(frame.motion)
        game = game_planes(_tensor(frame.color[..., :3]) / 255, depth, motion)
        if not history or frame.reset:
            previous = None
        with torch.no_grad():
            out = next_output(lambda inputs: model(**inputs), game, depth, motion, prompt_t, previous, previous_depth,
                              steps, generator, history_trust, start_sigma)
        previous, previous_depth = out, depth
        image = ((out[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
        yield RolloutFrame(image, frame.styles[style][..., :3], frame.color, frame.depth, frame.prev_depth, frame.motion, frame.reset)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over RGB with an 11x11 Gaussian window (Wang et al. 2004 constants)."""
    x, y = (_tensor(v.astype(np.float32) / 255) for v in (a, b))
    coords = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2).expand(3, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def psnr_same_view(curve: list[float], path: str) -> float | None:
    """Drift with the content held still. On the orbit the first and the last 100 frames
    look at different things, but every lap the camera sees the first 100 frames' view
    again (moving objects aside): PSNR over the last such window that fits the rollout,
    to compare with `psnr_first100`. None on other paths or rollouts shorter than a lap."""
    if path != "orbit":
        return None
    lap = orbit_lap_frames()
    laps = (len(curve) - DRIFT_WINDOW) // lap
    if laps < 1:
        return None
    return float(np.mean(curve[laps * lap : laps * lap + DRIFT_WINDOW]))


def evaluate_style(model: Denoiser, style: str, prompt: np.ndarray, seed: int, frames: int, width: int, height: int,
                   steps: int = 1, history: bool = True, progress: Callable[[], None] | None = None, start_sigma: float | None = None,
                   path: str = MIXED, history_trust: float = 0.0) -> dict:
    """The figures of one style over one rollout."""
    psnrs, ssims, ewarp, ewarp_gt = [], [], [], []
    prev: RolloutFrame | None = None
    for i, f in enumerate(rollout(model, style, prompt, seed, frames, width, height, steps, history, start_sigma, path, history_trust)):
        psnrs.append(psnr(f.output, f.target))
        if i % 10 == 0:
            ssims.append(ssim(f.output, f.target))
        if prev is not None and not f.reset:
            valid = occlusion_valid(prev.depth, f.motion, f.prev_depth)
            ewarp.append(warp_error(prev.output, f.output, f.motion, valid))
            ewarp_gt.append(warp_error(prev.target, f.target, f.motion, valid))
        prev = f
        if progress is not None:
            progress()
    window = min(DRIFT_WINDOW, max(1, len(psnrs) // 2))
    same_view = psnr_same_view(psnrs, path)
    return {**({"psnr_same_view": same_view} if same_view is not None else {}),
        "psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
        "ewarp": float(np.mean(ewarp)) if ewarp else 0.0, "ewarp_gt": float(np.mean(ewarp_gt)) if ewarp_gt else 0.0,
        "psnr_first100": float(np.mean(psnrs[:window])), "psnr_last100": float(np.mean(psnrs[-window:])),
        "psnr_curve": [round(float(v), 3) for v in psnrs],
    }


def evaluate(model: Denoiser, prompts: str, styles: list[str], seed: int, frames: int, width: int, height: int,
             steps: int = 1, history: bool = True, progress: Callable[[], None] | None = None, start_sigma: float | None = None,
             path: str = MIXED, prompt_bank: bool = True, jobs: int = 1, history_trust: float = 0.0) -> dict:
    """Every requested style; prompts are each style's first training or held-out prompt,
    through the prompt bank as the runtime does (`prompt_bank=False`: the raw embedding).
    `jobs` > 1 spreads the styles over that many single-threaded processes.
    `path` "mixed" (the default) covers every kind of camera movement, with a cut between
    segments; a cut drops the history, so drift is measured on one uninterrupted path
    (e.g. "orbit"), where the history chain is as long as the rollout."""
    from .text import runtime_embedder

    if seed < EVAL_WORLD_SEEDS_FROM:
        raise ValueError(f"evaluate on held-out worlds: seed must be >= {EVAL_WORLD_SEEDS_FROM}")
    embed = runtime_embedder(bank=prompt_bank)
    looks = {name: find_style(name) for name in styles}  # trained or extra (never-trained) styles alike
    texts = {name: (s.heldout_prompts if prompts == "heldout" else s.train_prompts)[0] for name, s in looks.items()}
    rollouts = {name: partial(evaluate_style, model, name, embed(text), seed, frames, width, height, steps=steps,
                              history=history, start_sigma=start_sigma, path=path, history_trust=history_trust)
                for name, text in texts.items()}
    if jobs > 1 and len(styles) > 1:
        figures = _in_processes(rollouts, jobs, progress)
    else:
        figures = {name: run(progress=progress) for name, run in rollouts.items()}
    per_style = {name: {"prompt": texts[name], **figures[name]} for name in styles}
    keys = (*FIGURES, "psnr_same_view")  # the last only on the orbit
    mean = {k: float(np.mean([v[k] for v in per_style.values()])) for k in keys if all(k in v for v in per_style.values())}
    return {"seed": seed, "frames": frames, "size": f"{width}x{height}", "path": path, "prompt_bank": prompt_bank, "steps": steps, "start_sigma": start_sigma,
            "history_trust": history_trust,
            "prompts": prompts, "styles": per_style, "mean": mean}


def _style_in_worker(run: Callable[..., dict], ticks) -> dict:
    """One style's rollout in a worker process; a tick on the queue for every frame."""
    torch.set_num_threads(1)  # the workers share the cores: oversubscribed threads spin and crawl
    return run(progress=lambda: ticks.put(1))


def _in_processes(rollouts: dict[str, Callable[..., dict]], jobs: int, progress: Callable[[], None] | None) -> dict[str, dict]:
    """Rollouts of several styles at once, one single-threaded process each: a small frame
    is too little work for two threads to help one rollout, two rollouts use two cores.
    Every rollout is seeded on its own, so the figures are those of a single process (up
    to float rounding from the thread count)."""
    import multiprocessing
    import queue
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a fresh GL context and torch per worker, no forked state
    with context.Manager() as manager, ProcessPoolExecutor(jobs, mp_context=context) as pool:
        ticks = manager.Queue()
        futures = {name: pool.submit(_style_in_worker, run, ticks) for name, run in rollouts.items()}
        while True:
            finished = all(f.done() for f in futures.values())  # read before draining: no tick is left behind
            try:
                while True:
                    ticks.get(timeout=0.5) if not finished else ticks.get_nowait()
                    if progress is not None:
                        progress()
            except queue.Empty:
                if finished:
                    break
        return {name: future.result() for name, future in futures.items()}
