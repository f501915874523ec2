"""The synthetic game world: a seeded procedural 3D scene rendered headless with moderngl
(EGL), giving per frame the engine buffers (color, depth, motion, reset) and the ground
truth of every style. See docs/world.md."""
