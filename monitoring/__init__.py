"""Monitoring the served model: everything after the request log, in its own processes.

  drift.py              `python -m monitoring.drift`: a window of logged traffic against the training data
  drift_statistics.py   the calibrated two-sample tests (Holm-adjusted, with effect sizes) and rows needed
  drift_report.py       the drift result as a markdown report
  baseline.py           what a window is compared with: the training split found through MLMD, or CSV rows
  training_examples.py  the training split's TFRecords -> feature columns
  logged_requests.py    the request log of a time window -> rows of raw features
  feature_columns.py    rows -> typed columns, at the precision the model sees
  tfdv_check.py         TFDV's comparators and schema checks of a window
  live_quality.py       `python -m monitoring.live_quality`: delayed labels joined with logged predictions
  result_file.py        the result file both commands write, and its schema (the continuous loop reads it)

Import rules (tests/test_architecture.py): no `pipeline`, `models` or `tfx`; from `serving`
only the model/server contract (serving/contract.py: where a version's schema is, which
features it takes) and the request-log format (serving/request_log_format.py). The server
never imports this package, so it never loads TFDV or scipy.
"""
