"""Shared test settings.

Hypothesis runs derandomized by default (the ``ci`` profile), so that the README's
``python -m pytest -q`` and CI's run draw the same examples whatever the environment holds.
``HYPOTHESIS_PROFILE=dev`` explores fresh examples (add ``--hypothesis-seed=K`` to repeat one
run: under ``ci``, derandomize overrides the seed). No deadlines: tests assert values, never
timings.
"""
import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DEVICE = mg.backend.default_device()


NOTEBOOK_TOOLS = ("nbgrader", "jupytext", "nbconvert", "nbclient")


def _importable(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    missing = [m for m in NOTEBOOK_TOOLS if not _importable(m)]
    if missing:
        # counted by benchmarks/gpu_check.sh: its GPU machine has none of them
        tools = pytest.mark.skip(reason=f"needs the notebook tools: {', '.join(missing)} "
                                        "not installed")
        for item in items:
            if item.get_closest_marker("notebook_tools"):
                item.add_marker(tools)
    # test_coverage.py reads what every gradient check recorded, so it runs last.
    items.sort(key=lambda item: item.path.name == "test_coverage.py")
    config.minigrad_test_files = {item.path.name for item in items}
    if mg.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a usable CUDA GPU (mg.cuda.is_available() is False)")
    for item in items:
        # a GPU test marked strict runs on the strict stand-in device instead, when it is chosen
        if "gpu" in item.keywords and not (DEVICE == "strict" and item.get_closest_marker("strict")):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    np.random.seed(0)
    yield
