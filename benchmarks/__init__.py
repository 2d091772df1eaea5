"""Benchmarks that print numbers; run them from the repository root with `python -m benchmarks.<name>`.

pipeline_speed (runs and measures the pipeline), pipeline_report (its targets, tables and JSON),
official_penguin (the official TFX example, the speed reference), serving_speed (latency, throughput).
"""
