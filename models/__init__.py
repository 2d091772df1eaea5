"""The ML a user edits: model.py (the model and its hyperparameters), features.py and preprocessing.py;
training.py (run_fn), export.py (signatures) and warm_start.py are the machinery around them."""
