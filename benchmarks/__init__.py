"""Benchmarks that print numbers (pipeline, official TFX penguin reference, serving)."""
