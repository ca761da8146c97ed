"""Record which ``ecgssl`` modules a Snakemake script job imported (tests only).

Put this folder on ``PYTHONPATH`` and set ``ECGSSL_IMPORT_TRACE`` to a folder: every
Python process that runs a workflow script then writes, at exit, its rule name, its
``code`` parameter (the library modules it depends on, with their digests) and the
``ecgssl`` modules in ``sys.modules`` to a JSON file there.
"""

import atexit
import json
import os
import sys

_TRACE = os.environ.get("ECGSSL_IMPORT_TRACE")


def _dump() -> None:
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    if job is None or not hasattr(job, "rule"):
        return
    modules = sorted(m for m in sys.modules if m == "ecgssl" or m.startswith("ecgssl."))
    record = {
        "rule": job.rule,
        "code": getattr(job.params, "code", ""),
        "modules": modules,
        "files": {m: getattr(sys.modules[m], "__file__", None) for m in modules},
    }
    path = os.path.join(_TRACE, f"{job.rule}-{os.getpid()}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)


if _TRACE:
    atexit.register(_dump)
