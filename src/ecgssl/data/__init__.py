"""From raw files to window stores.

The dataset registry, readers of the native formats, synthetic writers, signal
processing, preprocessing into windows, the Parquet store and label schemes.
"""
