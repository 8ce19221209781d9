"""Shared test settings.

Hypothesis runs derandomized under CI (CI=true) so that every run draws the same examples;
``HYPOTHESIS_PROFILE=dev`` explores fresh examples locally. No deadlines: tests assert values,
never timings.
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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

DEVICE = mg.backend.default_device()


def pytest_collection_modifyitems(config, items):
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
