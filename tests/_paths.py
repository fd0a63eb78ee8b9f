"""Where the shared data live: ``../shared/data`` beside the repository (as in CI), or the folder
named by ``TRIALSYNTH_SHARED_DATA``. Tests never skip when it is missing: they fail, loudly."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("TRIALSYNTH_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
