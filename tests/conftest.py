"""Shared fixtures: small seeded problems for the reference network."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Property and fuzz tests: the same examples on every run (derandomize), no per-example
# deadline (a cell takes milliseconds to a second), and a small default count; each test sets
# its own max_examples so the whole hypothesis share of CI stays a few hundred examples.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          print_blob=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("ci")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so every test is reproducible."""
    return np.random.default_rng(1234)
