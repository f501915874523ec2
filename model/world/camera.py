"""Camera paths through the world, as a game's player would move: walk, run, strafe,
orbit, fast turns, a static camera watching moving objects, and cuts.

A path is a pure function of the frame number (seeded), so frame t - 1 can always be
posed again to compute motion vectors, and the same seed gives the same path."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scene import WORLD_HALF, Scene

PATH_KINDS = ("walk", "run", "strafe", "orbit", "fast_turn", "static", "cuts")
FPS = 30.0  # frames per second of world time
ORBIT_RAD_PER_S = 0.25  # the orbit's angular speed: one lap every 2 pi / 0.25 * 30 = 754 frames


def orbit_lap_frames() -> int:
    """Frames after which an orbiting camera sees the same view again (to the nearest frame)."""
    return round(2 * math.pi / ORBIT_RAD_PER_S * FPS)


EYE_HEIGHT = 1.7
CUT_EVERY = 45  # frames between cuts on the "cuts" path


@dataclass(frozen=True)
class CameraPose:
    eye: tuple[float, float, float]
    yaw: float  # radians; 0 looks along -z, positive turns right
    pitch: float  # radians; positive looks up
    fov_y: float = math.radians(60.0)

    def forward(self) -> np.ndarray:
        cp = math.cos(self.pitch)
        return np.array([math.sin(self.yaw) * cp, math.sin(self.pitch), -math.cos(self.yaw) * cp])


def view_matrix(pose: CameraPose) -> np.ndarray:
    """World to view (right-handed, camera looks down -z)."""
    f = pose.forward()
    r = np.cross(f, [0.0, 1.0, 0.0])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = r, u, -f
    m[:3, 3] = -m[:3, :3] @ np.asarray(pose.eye)
    return m


def projection_matrix(fov_y: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(fov_y / 2)
    return np.array(
        [
            [f / aspect, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0],
        ]
    )


class CameraPath:
    """`pose(frame)` and `is_cut(frame)` for one kind of movement, seeded."""

    def __init__(self, kind: str, scene: Scene, seed: int):
        if kind not in PATH_KINDS:
            raise ValueError(f"unknown camera path {kind!r}; choose from {', '.join(PATH_KINDS)}")
        self.kind = kind
        self.scene = scene
        self.seed = seed
        rng = np.random.default_rng([seed, PATH_KINDS.index(kind)])
        self.start = rng.uniform(-12, 12, 2)
        self.yaw0 = rng.uniform(0, 2 * math.pi)
        self.wander = rng.uniform(0.1, 0.3)
        self.target = scene.landmarks[int(rng.integers(len(scene.landmarks)))] if scene.landmarks else np.zeros(3)
        self.moving_target = scene.moving[int(rng.integers(len(scene.moving)))] if scene.moving else None

    def is_cut(self, frame: int) -> bool:
        return self.kind == "cuts" and frame > 0 and frame % CUT_EVERY == 0

    def _ground(self, x: float, z: float, height: float = EYE_HEIGHT) -> float:
        return float(self.scene.terrain.height(x, z)) + height

    def _travel(self, t: float, speed: float, yaw: float, sideways: bool = False, start=None) -> tuple[float, float]:
        """Walk from start along a gently wandering heading, turning back at the world's edge."""
        sx, sz = self.start if start is None else start
        heading = yaw + (math.pi / 2 if sideways else 0.0)
        dist = speed * t
        x = sx + math.sin(heading) * dist
        z = sz - math.cos(heading) * dist
        limit = WORLD_HALF * 0.8  # reflect at the border so long paths stay in the world
        x = limit - abs((x + limit) % (4 * limit) - 2 * limit)
        z = limit - abs((z + limit) % (4 * limit) - 2 * limit)
        return x, z

    def pose(self, frame: int) -> CameraPose:
        t = frame / FPS
        kind = self.kind
        if kind in ("walk", "run"):
            speed, bob = (1.4, 0.03) if kind == "walk" else (5.0, 0.07)
            yaw = self.yaw0 + 0.4 * math.sin(self.wander * t)
            x, z = self._travel(t, speed, self.yaw0)
            steps = 2 * math.pi * t * (1.8 if kind == "walk" else 2.8)
            return CameraPose((x, self._ground(x, z) + bob * math.sin(steps), z), yaw, -0.05 + 0.02 * math.sin(0.5 * t))
        if kind == "strafe":
            x, z = self._travel(t, 2.0, self.yaw0, sideways=True)
            return CameraPose((x, self._ground(x, z), z), self.yaw0 + 0.1 * math.sin(0.7 * t), -0.03)
        if kind == "orbit":
            radius = 24.0
            angle = self.yaw0 + ORBIT_RAD_PER_S * t
            cx, cy, cz = self.target
            x, z = cx + radius * math.sin(angle), cz - radius * math.cos(angle)
            eye = (x, max(self._ground(x, z), cy + 2.0), z)
            d = np.array([cx, cy, cz]) - np.array(eye)
            return CameraPose(eye, math.atan2(d[0], -d[2]), math.atan2(d[1], math.hypot(d[0], d[2])))
        if kind == "fast_turn":
            x, z = self._travel(t, 0.6, self.yaw0)
            yaw = self.yaw0 + 2.2 * math.sin(1.6 * t)  # up to ~200 degrees per second
            return CameraPose((x, self._ground(x, z), z), yaw, -0.04)
        if kind == "static":
            tx, ty, tz = self.moving_target.transform(0.0)[:3, 3] if self.moving_target else self.target
            x, z = tx + 14.0, tz + 14.0
            eye = (x, self._ground(x, z, 4.0), z)
            d = np.array([tx, ty, tz]) - np.array(eye)
            return CameraPose(eye, math.atan2(d[0], -d[2]), math.atan2(d[1], math.hypot(d[0], d[2])))
        # cuts: a walk that jumps to a new place every CUT_EVERY frames
        shot = frame // CUT_EVERY
        rng = np.random.default_rng([self.seed, 99, shot])
        start, yaw = rng.uniform(-60, 60, 2), rng.uniform(0, 2 * math.pi)
        ts = (frame - shot * CUT_EVERY) / FPS
        x, z = self._travel(ts, 1.4, yaw, start=start)
        return CameraPose((x, self._ground(x, z), z), yaw + 0.3 * math.sin(0.3 * ts), -0.05)
