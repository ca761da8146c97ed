"""The workflow configuration: its schema (with every default) and its checks.

- ``schema.yaml``: the JSON schema of ``config.yaml``, the one place where defaults
  live (``workflow/schemas/config.schema.yaml`` links to it for Snakemake);
- :mod:`~ecgssl.config.defaults`: those defaults, for the library's config classes;
- :mod:`~ecgssl.config.validate`: checks the schema cannot express.
"""
