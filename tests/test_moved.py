"""Old module paths (before the stage folders) still import, as the same module object as the new
path, with a DeprecationWarning naming the new path (trialsynth._moved)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import warnings

import pytest

from trialsynth._moved import MOVED_MODULES, new_name

PAIRS = [
    ("trialsynth.io", "trialsynth.readers"),
    ("trialsynth.io.rm5", "trialsynth.readers.rm5"),
    ("trialsynth.io.folder", "trialsynth.readers.folder"),
    ("trialsynth.protocol", "trialsynth.review.protocol"),
    ("trialsynth.settings_inference", "trialsynth.review.settings_inference"),
    ("trialsynth.checking", "trialsynth.analyse.checking"),
    ("trialsynth.certainty.grade", "trialsynth.assess.certainty.grade"),
    ("trialsynth.bias.trimfill", "trialsynth.assess.bias.trimfill"),
    ("trialsynth.sequential", "trialsynth.assess.sequential"),
    ("trialsynth.sequential.plot", "trialsynth.render.figures.tsa"),
    ("trialsynth.report.figures.forest", "trialsynth.render.figures.forest"),
    ("trialsynth.report.html", "trialsynth.render.html"),
    ("trialsynth.nma.render", "trialsynth.render.nma_text"),
]


@pytest.fixture
def forget_old_names():
    """Each test imports the old names afresh (a name already imported does not warn again)."""
    saved = {k: v for k, v in sys.modules.items() if new_name(k) is not None}
    for k in saved:
        del sys.modules[k]
    yield
    for k in [k for k in sys.modules if new_name(k) is not None]:
        del sys.modules[k]
    sys.modules.update(saved)


def _warnings_of(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = action()
    return value, [str(w.message) for w in caught if w.category is DeprecationWarning]


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_old_name_is_the_new_module_and_warns(old: str, new: str, forget_old_names) -> None:
    module, said = _warnings_of(lambda: importlib.import_module(old))
    assert any(re.match(f"{re.escape(old)} has moved to {re.escape(new)};", m) for m in said), said
    assert module is importlib.import_module(new)
    assert module.__name__ == new and module.__spec__.name == new  # its own identity is kept


def test_from_import_of_old_package(forget_old_names) -> None:
    with pytest.warns(DeprecationWarning, match="trialsynth.io has moved to trialsynth.readers;"):
        from trialsynth.io import read_review, rm5  # noqa: I001 (the old path, on purpose)
    from trialsynth.readers import read_review as new_read
    from trialsynth.readers import rm5 as new_rm5

    assert read_review is new_read and rm5 is new_rm5


def test_moved_function_of_a_package_that_stayed() -> None:
    from trialsynth.render.figures.tsa import plot_tsa

    package = importlib.import_module("trialsynth.assess.sequential")
    vars(package).pop("plot_tsa", None)  # looked up afresh (a first look-up keeps the name)
    old, said = _warnings_of(lambda: package.plot_tsa)
    assert old is plot_tsa
    assert said == ["trialsynth.assess.sequential.plot_tsa has moved to "
                    "trialsynth.render.figures.tsa.plot_tsa; import it from there (the old name "
                    "will be removed in a later version)"]
    with pytest.raises(AttributeError, match="no_such_name"):
        importlib.import_module("trialsynth.assess.sequential").no_such_name  # noqa: B018


def test_every_old_name_resolves(forget_old_names) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old, new in MOVED_MODULES.items():
            assert importlib.import_module(old) is importlib.import_module(new), old


def test_unknown_and_unmoved_names(forget_old_names) -> None:
    with pytest.raises(ModuleNotFoundError, match="trialsynth.io.no_such_reader"), \
            pytest.warns(DeprecationWarning, match="trialsynth.io has moved"):
        importlib.import_module("trialsynth.io.no_such_reader")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # modules that stayed do not warn
        importlib.import_module("trialsynth.report.model")
        importlib.import_module("trialsynth.review")
    assert new_name("trialsynth.iox") is None and new_name("trialsynth.report.model") is None


def test_warning_points_at_the_importing_line() -> None:
    code = "import warnings; warnings.simplefilter('always')\nimport trialsynth.certainty.rules\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert '<string>:2: DeprecationWarning: trialsynth.certainty has moved to ' \
           'trialsynth.assess.certainty' in proc.stderr
