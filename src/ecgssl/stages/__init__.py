"""The workflow's stages as plain functions, one module per rule.

Each workflow script makes one call into one of these modules; the module reads the
stage's inputs, calls the library and writes its outputs atomically, with a JSON
sidecar of provenance where the output is a model or a metric. One module per rule
keeps each rule's rerun triggers (derived from imports) to the code it runs.
"""
