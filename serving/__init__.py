"""Serving the pushed model, where only a SavedModel and a metadata store exist.

  server/      the TF Serving compatible process (REST, gRPC, versions, request log, metrics)
  contract.py  what a pushed version holds, how it is called and which features it takes (the model/server contract)
  raw_features.py  plain JSON rows <-> the tf.Examples the model parses, from the shipped schema
  example_rows.py  logged tf.Examples -> rows, without TensorFlow (the request log's writer process)
  request_log_format.py  the request log's files and record fields (written by server/, read by monitoring/)
  client.py, smoke.py, rollback.py, synthetic_traffic.py   commands and tools around a running server
  monitor.py, feedback.py   the former names of `python -m monitoring.drift` and `monitoring.live_quality`
  deploy/      the real TF Serving recipe and the KServe manifest

Never imports the TFX pipeline code (`pipeline`, `models`, `tfx`) nor `monitoring` (the server
never loads TFDV or scipy); reads runs through `runs`.
"""
