"""MP4 (H.264) writing through the ffmpeg binary that the `imageio-ffmpeg` wheel bundles:
no system ffmpeg needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Mp4Writer:
    """`write(frame)` RGB (H, W, 3) uint8 frames of one size; `close()` finishes the file."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        try:
            import imageio_ffmpeg
        except ImportError as exc:
            raise RuntimeError("writing mp4 needs the imageio-ffmpeg package: pip install imageio-ffmpeg") from exc
        if width % 2 or height % 2:
            raise ValueError(f"H.264 with 4:2:0 chroma needs even sizes, got {width}x{height}")
        self.path = Path(path)
        self.size = (width, height)
        # One encoder thread and a fast preset: the encoder shares two cores with the game
        # and the model, and must not slow the stream it records.
        self._pipe = imageio_ffmpeg.write_frames(
            str(self.path),
            (width, height),
            fps=fps,
            codec="libx264",
            quality=7,
            macro_block_size=2,
            ffmpeg_log_level="error",
            output_params=["-preset", "veryfast", "-threads", "1"],
        )
        self._pipe.send(None)  # start ffmpeg
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frames must be ({self.size[1]}, {self.size[0]}, 3) uint8, got {frame.shape} {frame.dtype}"
            )
        self._pipe.send(np.ascontiguousarray(frame).tobytes())
        self.frames += 1

    def close(self) -> None:
        self._pipe.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
