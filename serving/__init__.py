"""Serving the pushed model: a TF Serving compatible server, its client, request
logging, metrics and drift monitoring.

This package never imports the TFX pipeline code (`pipeline`, `models`, `tfx`): it
only reads what the pipeline leaves behind (the pushed SavedModel directory and the
ML Metadata store), exactly as a real TF Serving deployment would.
"""
