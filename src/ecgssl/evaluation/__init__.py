"""Evaluation: folds, metrics and the aggregation into tables and plots."""
