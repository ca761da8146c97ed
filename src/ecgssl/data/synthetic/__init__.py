"""Synthetic ECG and synthetic datasets written in each dataset's native raw format."""
