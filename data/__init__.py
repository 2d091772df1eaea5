"""Datasets, one folder each (CSV + dataset.yaml + curated schema.pbtxt), and the generator."""
