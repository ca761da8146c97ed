"""Reader options: the readers' keyword defaults are the schema's defaults."""

from __future__ import annotations

import inspect

import pytest

from ecgssl.config.defaults import defaults
from ecgssl.data.datasets import DATASETS, reader_class


@pytest.mark.parametrize("dataset", DATASETS)
def test_reader_defaults_match_the_schema(dataset: str) -> None:
    params = inspect.signature(reader_class(dataset)).parameters
    options = {
        name: p.default
        for name, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert options == defaults(f"datasets.{dataset}.reader")
