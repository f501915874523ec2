"""The world's geometry: a seeded terrain, buildings, trees, props and moving objects.

Everything is built once into one vertex array (one draw call). A vertex carries its
object's index; static geometry is object 0 (identity transform), each moving object has
its own index and a transform that is a function of time, so the renderer can compute
motion vectors from the transforms at t and t - dt exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WORLD_HALF = 100.0  # the world spans [-100, 100] m in x and z
MAX_OBJECTS = 48  # transform slots in the shader; 0 is the static world

# Materials: what the surface is, for the base look and the styles.
TERRAIN, BUILDING, FOLIAGE, TRUNK, PROP, WALKER, VEHICLE, SPINNER, BOUNCER = range(9)
MATERIAL_NAMES = ["terrain", "building", "foliage", "trunk", "prop", "walker", "vehicle", "spinner", "bouncer"]

# Vertex layout: position (3), normal (3), albedo (3), object index (1), material (1).
VERTEX_FLOATS = 11


class Terrain:
    """A smooth heightfield, seeded; `height(x, z)` is used by the mesh and the cameras."""

    def __init__(self, rng: np.random.Generator):
        self.waves = [
            (rng.uniform(0.02, 0.08), rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi), rng.uniform(0.4, 1.6))
            for _ in range(4)
        ]

    def height(self, x, z):
        h = 0.0
        for freq, angle, phase, amp in self.waves:
            h = h + amp * np.sin(freq * (x * math.cos(angle) + z * math.sin(angle)) + phase)
        return h


def _box(center, size, color, obj, material):
    """36 vertices of an axis-aligned box with flat normals."""
    cx, cy, cz = center
    sx, sy, sz = (s / 2 for s in size)
    faces = [
        ((1, 0, 0), [(sx, -sy, -sz), (sx, sy, -sz), (sx, sy, sz), (sx, -sy, sz)]),
        ((-1, 0, 0), [(-sx, -sy, sz), (-sx, sy, sz), (-sx, sy, -sz), (-sx, -sy, -sz)]),
        ((0, 1, 0), [(-sx, sy, -sz), (-sx, sy, sz), (sx, sy, sz), (sx, sy, -sz)]),
        ((0, -1, 0), [(-sx, -sy, sz), (-sx, -sy, -sz), (sx, -sy, -sz), (sx, -sy, sz)]),
        ((0, 0, 1), [(sx, -sy, sz), (sx, sy, sz), (-sx, sy, sz), (-sx, -sy, sz)]),
        ((0, 0, -1), [(-sx, -sy, -sz), (-sx, sy, -sz), (sx, sy, -sz), (sx, -sy, -sz)]),
    ]
    rows = []
    for normal, quad in faces:
        for i in (0, 1, 2, 0, 2, 3):
            x, y, z = quad[i]
            rows.append((cx + x, cy + y, cz + z, *normal, *color, obj, material))
    return rows


def _cone(base, radius, height, color, obj, material, sides=8):
    """A closed cone (tree crown); flat-shaded sides."""
    bx, by, bz = base
    rows = []
    apex = np.array([bx, by + height, bz])
    for i in range(sides):
        a0, a1 = 2 * math.pi * i / sides, 2 * math.pi * (i + 1) / sides
        p0 = np.array([bx + radius * math.cos(a0), by, bz + radius * math.sin(a0)])
        p1 = np.array([bx + radius * math.cos(a1), by, bz + radius * math.sin(a1)])
        n = np.cross(apex - p0, p1 - p0)
        n = -n / np.linalg.norm(n)
        for p in (p0, apex, p1):
            rows.append((*p, *n, *color, obj, material))
        for p in (p1, np.array([bx, by, bz]), p0):
            rows.append((*p, 0.0, -1.0, 0.0, *color, obj, material))
    return rows


def _sphere(radius, color, obj, material, rings=6, segments=10):
    """A low-poly sphere centred on the origin (object space), smooth normals."""
    rows = []

    def point(r, s):
        theta, phi = math.pi * r / rings, 2 * math.pi * s / segments
        n = (math.sin(theta) * math.cos(phi), math.cos(theta), math.sin(theta) * math.sin(phi))
        return tuple(radius * c for c in n), n

    for r in range(rings):
        for s in range(segments):
            quad = [point(r, s), point(r + 1, s), point(r + 1, s + 1), point(r, s + 1)]
            for i in (0, 2, 1, 0, 3, 2):
                p, n = quad[i]
                rows.append((*p, *n, *color, obj, material))
    return rows


def _terrain_mesh(terrain: Terrain, rng: np.random.Generator, cells: int = 40):
    xs = np.linspace(-WORLD_HALF, WORLD_HALF, cells + 1)
    gx, gz = np.meshgrid(xs, xs, indexing="ij")
    gy = terrain.height(gx, gz)
    rows = []
    patch = rng.uniform(0, 1, (cells, cells))
    for i in range(cells):
        for j in range(cells):
            p = [np.array([gx[a, b], gy[a, b], gz[a, b]]) for a, b in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1))]
            grass = np.array([0.30, 0.52, 0.22]) if patch[i, j] > 0.12 else np.array([0.50, 0.42, 0.28])
            color = grass * (0.9 + 0.2 * patch[i, j])
            for tri in ((0, 2, 1), (0, 3, 2)):
                a, b, c = (p[k] for k in tri)
                n = np.cross(b - a, c - a)
                n = n / np.linalg.norm(n)
                if n[1] < 0:
                    n = -n
                for v in (a, b, c):
                    rows.append((*v, *n, *color, 0, TERRAIN))
    return rows


@dataclass
class MovingObject:
    """A mesh in object space and its transform as a function of time (seconds)."""

    index: int
    material: int
    transform: Callable[[float], np.ndarray]


@dataclass(frozen=True)
class Chunk:
    """A contiguous run of vertices and its bounding box, for view culling."""

    first: int
    count: int
    low: np.ndarray
    high: np.ndarray
    always: bool = False  # moving objects: never culled


@dataclass
class Scene:
    """The seeded world: one vertex array and the moving objects' transforms."""

    seed: int
    terrain: Terrain
    vertices: np.ndarray  # (N, VERTEX_FLOATS) float32
    moving: list[MovingObject] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)  # building centres, for cameras
    chunks: list[Chunk] = field(default_factory=list)  # vertex runs by map tile, moving objects last

    def transforms(self, t: float) -> np.ndarray:
        """(MAX_OBJECTS, 4, 4) model matrices at time t; object 0 and unused slots: identity."""
        out = np.tile(np.eye(4, dtype=np.float32), (MAX_OBJECTS, 1, 1))
        for obj in self.moving:
            out[obj.index] = obj.transform(t)
        return out


def _translate_rotate_y(position, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    m = np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]], np.float32)
    m[:3, 3] = position
    return m


def build_scene(seed: int) -> Scene:
    """The world for this seed: the same seed gives the same world, always."""
    rng = np.random.default_rng(seed)
    terrain = Terrain(rng)
    rows = _terrain_mesh(terrain, rng)
    landmarks = []
    for _ in range(28):  # buildings, kept out of the spawn area around the origin
        while True:
            x, z = rng.uniform(-85, 85, 2)
            if math.hypot(x, z) > 18:
                break
        w, d, h = rng.uniform(5, 12), rng.uniform(5, 12), rng.uniform(5, 22)
        base = float(terrain.height(x, z)) - 1.0
        color = rng.uniform(0.45, 0.85, 3) * np.array([1.0, 0.95, 0.9])
        rows += _box((x, base + h / 2, z), (w, h, d), color, 0, BUILDING)
        rows += _box((x, base + h + 0.3, z), (w + 0.6, 0.6, d + 0.6), color * 0.6, 0, BUILDING)  # roof rim
        landmarks.append(np.array([x, base + h / 2, z]))
    for _ in range(70):  # trees
        x, z = rng.uniform(-90, 90, 2)
        y = float(terrain.height(x, z))
        trunk_h, crown_h = rng.uniform(1.5, 3), rng.uniform(3, 7)
        rows += _box((x, y + trunk_h / 2, z), (0.4, trunk_h, 0.4), (0.35, 0.24, 0.14), 0, TRUNK)
        rows += _cone(
            (x, y + trunk_h, z),
            rng.uniform(1.2, 2.5),
            crown_h,
            rng.uniform(0.1, 0.35, 3) * np.array([0.6, 1.6, 0.6]),
            0,
            FOLIAGE,
        )
    for _ in range(40):  # props: crates and rocks
        x, z = rng.uniform(-70, 70, 2)
        y = float(terrain.height(x, z))
        s = rng.uniform(0.5, 1.5)
        rows += _box((x, y + s / 2 - 0.1, z), (s, s, s), rng.uniform(0.3, 0.7, 3), 0, PROP)

    moving = []
    index = 1

    def add(mesh_rows, material, transform):
        nonlocal index, rows
        for r in mesh_rows:
            rows.append((*r[:9], index, material))
        moving.append(MovingObject(index, material, transform))
        index += 1

    for _ in range(10):  # walkers: back and forth along a line, facing their way
        a = rng.uniform(-30, 30, 2)
        heading, length, speed = rng.uniform(0, 2 * math.pi), rng.uniform(8, 20), rng.uniform(1.0, 1.8)
        color = rng.uniform(0.2, 0.9, 3)

        def walker(t, a=a, heading=heading, length=length, speed=speed):
            phase = (t * speed / length) % 2.0
            s = phase if phase < 1 else 2 - phase
            x, z = a[0] + math.cos(heading) * s * length, a[1] + math.sin(heading) * s * length
            yaw = -heading + (0 if phase < 1 else math.pi)
            return _translate_rotate_y((x, float(terrain.height(x, z)) + 0.9 + 0.05 * abs(math.sin(6 * t)), z), yaw)

        add(
            _box((0, 0, 0), (0.5, 1.8, 0.35), color, 0, 0)
            + _box((0.3, 0.6, 0), (0.25, 0.25, 0.25), (0.9, 0.8, 0.7), 0, 0),
            WALKER,
            walker,
        )
    for _ in range(6):  # vehicles: loops
        centre = rng.uniform(-40, 40, 2)
        radius, speed = rng.uniform(10, 30), rng.uniform(6, 12) * rng.choice([-1, 1])
        color = rng.uniform(0.2, 0.9, 3)

        def vehicle(t, centre=centre, radius=radius, speed=speed):
            angle = t * speed / radius
            x, z = centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle)
            yaw = -angle - math.copysign(math.pi / 2, speed)
            return _translate_rotate_y((x, float(terrain.height(x, z)) + 0.8, z), yaw)

        add(
            _box((0, 0, 0), (4.2, 1.2, 2.0), color, 0, 0) + _box((-0.3, 0.9, 0), (2.2, 0.8, 1.8), color * 0.7, 0, 0),
            VEHICLE,
            vehicle,
        )
    for _ in range(6):  # spinners: cubes turning on the spot
        x, z = rng.uniform(-40, 40, 2)
        rate = rng.uniform(0.5, 2.5)
        y = float(terrain.height(x, z)) + 2.5

        def spinner(t, x=x, y=y, z=z, rate=rate):
            return _translate_rotate_y((x, y, z), rate * t)

        add(_box((0, 0, 0), (2, 2, 2), rng.uniform(0.4, 1.0, 3), 0, 0), SPINNER, spinner)
    for _ in range(6):  # bouncers: balls
        x, z = rng.uniform(-40, 40, 2)
        period, h = rng.uniform(0.8, 1.6), rng.uniform(1, 3)
        ground = float(terrain.height(x, z)) + 0.8

        def bouncer(t, x=x, z=z, period=period, h=h, ground=ground):
            return _translate_rotate_y((x, ground + h * abs(math.sin(math.pi * t / period)), z), 0.0)

        add(_sphere(0.8, rng.uniform(0.5, 1.0, 3), 0, 0), BOUNCER, bouncer)
    assert index <= MAX_OBJECTS
    vertices, chunks = _chunked(np.asarray(rows, np.float32))
    return Scene(seed, terrain, vertices, moving, landmarks, chunks)


def _chunked(vertices: np.ndarray, grid: int = 8) -> tuple[np.ndarray, list[Chunk]]:
    """Order static triangles by map tile (so the renderer can skip tiles outside the view)
    and put the moving objects last as one always-drawn range."""
    tris = vertices.reshape(-1, 3, VERTEX_FLOATS)
    static = tris[:, 0, 9] == 0
    centre = tris[:, :, [0, 2]].mean(axis=1)
    tile = np.clip(((centre + WORLD_HALF) / (2 * WORLD_HALF) * grid).astype(int), 0, grid - 1)
    key = np.where(static, tile[:, 0] * grid + tile[:, 1], grid * grid)
    order = np.argsort(key, kind="stable")
    tris, key = tris[order], key[order]
    chunks = []
    for k in np.unique(key):
        sel = np.nonzero(key == k)[0]
        pts = tris[sel, :, :3].reshape(-1, 3)
        always = k == grid * grid  # moving objects go anywhere
        chunks.append(Chunk(int(sel[0]) * 3, len(sel) * 3, pts.min(axis=0), pts.max(axis=0), bool(always)))
    return np.ascontiguousarray(tris.reshape(-1, VERTEX_FLOATS)), chunks
