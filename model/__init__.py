"""The denoiser and everything it learns from: `reverie.model.world` is the synthetic game
world (training data, evaluation, the demo game). Knows nothing of `reverie.bridge`."""
