"""Shared test settings.

Hypothesis runs derandomized by default (the ``ci`` profile), so that the README's
``python -m pytest -q`` and CI's run draw the same examples whatever the environment holds.
``HYPOTHESIS_PROFILE=dev`` explores fresh examples (add ``--hypothesis-seed=K`` to repeat one
run: under ``ci``, derandomize overrides the seed). No deadlines: tests assert values, never
timings.
"""
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


def pytest_collection_modifyitems(config, items):
    # test_coverage.py reads what every gradient check recorded, so it runs last.
    items.sort(key=lambda item: item.path.name == "test_coverage.py")
    config.minigrad_test_files = {item.path.name for item in items}
    if mg.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a usable CUDA GPU (mg.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    np.random.seed(0)
    yield
