"""Runnable demos (import name `reverie.demos`): `reverie demo` streams the synthetic
world through the daemon running the model and records it. Nothing imports this package;
the `reverie demo` subcommand loads it when it runs."""
