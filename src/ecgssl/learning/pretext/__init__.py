"""Self-supervised pretext methods, one module each.

- :mod:`~ecgssl.learning.pretext.transformation_recognition`: the paper's method,
  seven binary heads recognising six signal transformations.

The training loop that runs them is :func:`ecgssl.learning.pretrain.pretrain`.
"""
