"""Test-session checks shared by every test module."""

from __future__ import annotations

import pytest
from _paths import SHARED_DATA


def pytest_sessionstart(session: pytest.Session) -> None:
    """The reference data are a dependency: without them the suite fails instead of skipping."""
    flagship = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"
    if not flagship.is_file():
        raise pytest.UsageError(f"shared data not found at {SHARED_DATA} (expected {flagship}); "
                                "put the shared/ folder beside the repository or set "
                                "TRIALSYNTH_SHARED_DATA")
