"""Headless rendering of the world with moderngl on EGL: one geometry pass writes the game
look and every internal buffer, one full-screen pass per requested style writes its
ground truth, and only what is asked for is read back.

Conventions (the engine's, see docs/protocol.md): row 0 is the top; depth is linear view
depth in meters (the sky is at SKY_DEPTH); motion is in pixels with previous position =
current + motion, from the camera and the objects' own transforms at t and t - 1/FPS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import moderngl
import numpy as np

from .camera import FPS, CameraPose, projection_matrix, view_matrix
from .looks import style as find_style
from .scene import MAX_OBJECTS, Scene

NEAR, FAR = 0.1, 1500.0
# Rendering upside down puts the image's top row first in GL's memory order, so read-back
# needs no flip; the winding of front faces flips with it.
FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])
SKY_DEPTH = 1000.0
_ATTACHMENTS = ("color", "geom", "surface", "normal")
# Depth, motion and surface coordinates need float32; normals (and the material id, a
# small integer) are exact enough in float16, which halves what the rasterizer writes.
_NOISE_UNIT = 7
_FORMATS = {"color": "f1", "geom": "f4", "surface": "f4", "normal": "f2"}


@dataclass
class WorldFrame:
    """What one frame gives: the engine buffers, the styles asked for, and on request the
    internal buffers (object-space surface coordinates and UVs, world positions, normals,
    object ids, materials)."""

    color: np.ndarray  # (H, W, 4) uint8
    depth: np.ndarray  # (H, W) float32, meters
    motion: np.ndarray  # (H, W, 2) float32, pixels
    reset: bool
    prev_depth: np.ndarray  # (H, W) float32: this pixel's surface point's depth in the previous frame
    styles: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W, 4) uint8
    internal: dict[str, np.ndarray] = field(default_factory=dict)


def _shader(name: str) -> str:
    return resources.files(__package__).joinpath("shaders", name).read_text()


def _source(*names: str, defines: dict[str, int] | None = None) -> str:
    header = f"#version 330\n#define MAX_OBJECTS {MAX_OBJECTS}\n" + "".join(
        f"#define {k} {v}\n" for k, v in (defines or {}).items()
    )
    return header + _shader("common.glsl") + "".join(_shader(n) for n in names)


def _gl(matrix: np.ndarray) -> bytes:
    """Row-major numpy matrices as the column-major float32 bytes GLSL expects."""
    return np.ascontiguousarray(np.swapaxes(np.asarray(matrix, np.float32), -1, -2)).tobytes()


class WorldRenderer:
    """Renders one scene at one size. Create once, call `render` per frame."""

    def __init__(self, scene: Scene, width: int, height: int, context: moderngl.Context | None = None):
        self.scene = scene
        self.size = (width, height)
        self.ctx = context or moderngl.create_standalone_context(backend="egl")
        ctx = self.ctx
        self.geometry = ctx.program(vertex_shader=_source("gbuffer.vert"), fragment_shader=_source("gbuffer.frag"))
        self.sky = ctx.program(vertex_shader=_source("fullscreen.vert"), fragment_shader=_source("sky.frag"))
        vbo = ctx.buffer(scene.vertices.tobytes())
        for program in (self.geometry, self.sky):
            if "u_noise" in program:
                program["u_noise"] = _NOISE_UNIT
        self.vao = ctx.vertex_array(
            self.geometry, [(vbo, "3f 3f 3f 1f 1f", "in_pos", "in_normal", "in_albedo", "in_object", "in_material")]
        )
        self.sky_vao = ctx.vertex_array(self.sky, [])
        self._style_passes: dict[str, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self.textures = {name: ctx.texture((width, height), 4, dtype=_FORMATS[name]) for name in _ATTACHMENTS}
        for tex in self.textures.values():
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        noise = np.random.default_rng(12345).integers(0, 256, (64, 64), dtype=np.uint8)
        self.noise = ctx.texture((64, 64), 1, noise.tobytes())
        self.noise.repeat_x = self.noise.repeat_y = True
        self.noise.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.gbuffer = ctx.framebuffer(
            [self.textures[n] for n in _ATTACHMENTS], ctx.depth_renderbuffer((width, height))
        )
        self.style_target = ctx.texture((width, height), 4, dtype="f1")
        self.style_fbo = ctx.framebuffer([self.style_target])
        self._style_units = [(unit, self.textures[name]) for unit, name in enumerate(_ATTACHMENTS)]
        self.aspect = width / height
        self._transform_cache: dict[int, np.ndarray] = {}
        boxes = [(c.low, c.high) for c in scene.chunks]
        self._corners = np.array(
            [
                [[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
                for lo, hi in boxes
            ]
        )
        self._always = np.array([c.always for c in scene.chunks])

    def render(self, *args, **kwargs) -> WorldFrame:
        """See `_render`; several renderers may live in one process, each with its own GL
        context, so every call makes this renderer's context current first."""
        with self.ctx:
            return self._render(*args, **kwargs)

    def _render(
        self,
        pose: CameraPose,
        prev_pose: CameraPose,
        frame: int,
        *,
        reset: bool = False,
        styles: tuple[str, ...] = (),
        internal: bool = False,
    ) -> WorldFrame:
        """Render world time frame/FPS seen from `pose`; motion is relative to `prev_pose` at
        the previous frame (pass the same pose and `reset=True` on a cut)."""
        width, height = self.size
        proj = FLIP_Y @ projection_matrix(pose.fov_y, self.aspect, NEAR, FAR)
        prev_proj = FLIP_Y @ projection_matrix(prev_pose.fov_y, self.aspect, NEAR, FAR)
        view, prev_view = view_matrix(pose), view_matrix(prev_pose)
        view_proj, prev_view_proj = proj @ view, prev_proj @ prev_view
        models = self._transforms(frame)
        prev_models = models if reset else self._transforms(frame - 1)

        ctx = self.ctx
        self.noise.use(_NOISE_UNIT)
        self.gbuffer.use()
        ctx.viewport = (0, 0, width, height)
        self.gbuffer.clear(depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.front_face = "cw"
        ctx.depth_func = "<"
        g = self.geometry
        g["u_view_proj"].write(_gl(view_proj))
        g["u_prev_view_proj"].write(_gl(prev_view_proj))
        g["u_view"].write(_gl(view))
        g["u_prev_view"].write(_gl(prev_view))
        g["u_model"].write(_gl(models))
        g["u_prev_model"].write(_gl(prev_models))
        g["u_size"] = (width, height)
        g["u_eye"] = tuple(pose.eye)
        for first, count in self._visible_runs(view_proj):
            self.vao.render(moderngl.TRIANGLES, vertices=count, first=first)
        # The sky last, at the far plane: the depth test leaves only uncovered pixels to shade.
        ctx.disable(moderngl.CULL_FACE)
        ctx.depth_func = "<="
        ctx.depth_mask = False
        self.sky["u_inv_view_proj"].write(_gl(np.linalg.inv(view_proj)))
        self.sky["u_view_proj"].write(_gl(view_proj))
        self.sky["u_prev_view_proj"].write(_gl(prev_view_proj))
        self.sky["u_eye"] = tuple(pose.eye)
        self.sky["u_size"] = (width, height)
        self.sky_vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.depth_mask = True
        ctx.disable(moderngl.DEPTH_TEST)

        color = self._read("color", np.uint8)
        geom = self._read("geom", np.float32)
        result = WorldFrame(
            color=color,
            depth=np.ascontiguousarray(geom[..., 0]),
            motion=np.ascontiguousarray(geom[..., 2:4]),
            reset=reset,
            prev_depth=np.ascontiguousarray(geom[..., 1]),
        )
        for name in styles:
            result.styles[name] = self._style(name)
        if internal:
            surface, normal = self._read("surface", np.float32), self._read("normal", np.float16)
            code = surface[..., 3].round().astype(np.int32)
            axis = code % 4  # the face's dominant object-space axis: UVs are the other two
            uv = np.where(
                (axis == 0)[..., None],
                surface[..., [2, 1]],
                np.where((axis == 1)[..., None], surface[..., [0, 2]], surface[..., [0, 1]]),
            )
            result.internal = {
                "surface": surface[..., :3],
                "uv": uv,
                "object_id": code // 4,
                "normal": normal[..., :3].astype(np.float32),
                "material": normal[..., 3].round().astype(np.int32),
                "world": self._world_positions(pose, result.depth),
            }
        return result

    def _world_positions(self, pose: CameraPose, depth: np.ndarray) -> np.ndarray:
        """World position of every pixel, from its linear depth along the view ray."""
        width, height = self.size
        tan = np.tan(pose.fov_y / 2)
        xs = ((np.arange(width) + 0.5) / width * 2 - 1) * tan * self.aspect
        ys = (1 - (np.arange(height) + 0.5) / height * 2) * tan  # row 0 is the top
        view_points = (
            np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], -np.ones((height, 1))), axis=-1) * depth[..., None]
        )
        to_world = np.linalg.inv(view_matrix(pose))
        return (view_points @ to_world[:3, :3].T + to_world[:3, 3]).astype(np.float32)

    def _transforms(self, frame: int) -> np.ndarray:
        """Object transforms at a frame; the last few are kept (frame t's are frame t+1's previous)."""
        cache = self._transform_cache
        if frame not in cache:
            if len(cache) >= 4:
                del cache[min(cache)]
            cache[frame] = self.scene.transforms(frame / FPS)
        return cache[frame]

    def _visible_runs(self, view_proj: np.ndarray) -> list[tuple[int, int]]:
        """Vertex runs of the tiles whose boxes touch the view (adjacent runs merged). A box
        is culled when all its corners lie beyond one clip plane."""
        clip = self._corners @ view_proj.T  # (chunks, 8, 4)
        w = clip[..., 3]
        beyond = [(clip[..., i] < -w).all(axis=1) | (clip[..., i] > w).all(axis=1) for i in range(3)]
        visible = ~(beyond[0] | beyond[1] | beyond[2]) | self._always
        runs: list[tuple[int, int]] = []
        for chunk, seen in zip(self.scene.chunks, visible):
            if not seen:
                continue
            if runs and runs[-1][0] + runs[-1][1] == chunk.first:
                runs[-1] = (runs[-1][0], runs[-1][1] + chunk.count)
            else:
                runs.append((chunk.first, chunk.count))
        return runs

    def _read(self, name: str, dtype) -> np.ndarray:
        width, height = self.size
        data = self.textures[name].read()
        return np.frombuffer(data, dtype).reshape(height, width, 4)  # read-only, zero-copy

    def _style_pass(self, name: str) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The program of one style, compiled on first use (one program per style keeps
        the per-pixel work to that style's own)."""
        if name not in self._style_passes:
            program = self.ctx.program(
                vertex_shader=_source("fullscreen.vert"),
                fragment_shader=_source("style.frag", defines={"STYLE": find_style(name).index}),
            )
            for unit, buffer in enumerate(_ATTACHMENTS):
                if f"u_{buffer}" in program:
                    program[f"u_{buffer}"] = unit
            if "u_noise" in program:
                program["u_noise"] = _NOISE_UNIT
            self._style_passes[name] = (program, self.ctx.vertex_array(program, []))
        return self._style_passes[name]

    def _style(self, name: str) -> np.ndarray:
        width, height = self.size
        _, vao = self._style_pass(name)
        self.style_fbo.use()
        self.ctx.viewport = (0, 0, width, height)
        for unit, tex in self._style_units:
            tex.use(unit)
        vao.render(moderngl.TRIANGLES, vertices=3)
        data = self.style_target.read()
        return np.frombuffer(data, np.uint8).reshape(height, width, 4)

    def release(self) -> None:
        self.ctx.release()
