"""Shared test configuration: hypothesis profiles.

- ``ci`` (the default, used by ``make test``): bounded examples, no deadline, so the
  suite is fast and never flaky on a loaded 2-core machine.
- ``thorough`` (``make fuzz``): many more examples.
- ``dev``: a quick profile for iterating.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
