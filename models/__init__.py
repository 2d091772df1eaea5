"""The ML a user edits: feature definition, preprocessing, model and training."""
