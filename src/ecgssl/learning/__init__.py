"""Representation learning and its use.

Transformations, networks, pretext training, fine-tuning, feature extraction,
checkpoints and devices.
"""
