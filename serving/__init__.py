"""Serving the pushed model, where only a SavedModel and a metadata store exist.

  server/      the TF Serving compatible process (REST, gRPC, versions, request log, metrics)
  contract.py  what a pushed version holds and how it is called (the model/server contract)
  raw_features.py  plain JSON rows <-> the tf.Examples the model parses, from the shipped schema
  example_rows.py  logged tf.Examples -> rows, without TensorFlow (the request log's writer process)
  client.py, smoke.py, monitor.py, traffic.py   commands around a running server
  logged_traffic.py, feature_values.py, training_data.py, drift_tests.py, tfdv_check.py,
  monitor_report.py   the drift monitor's parts: read the log, read the training split, test, report
  deploy/      the real TF Serving recipe and the KServe manifest

Never imports the TFX pipeline code (`pipeline`, `models`, `tfx`); reads runs through `runs`.
"""
