"""Command-line entry points: ``python -m train.train_model`` and ``python -m train.test_model``."""
