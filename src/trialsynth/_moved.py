"""Old module paths of trialsynth, kept working for existing scripts.

The package is laid out by stage (readers, review, analyse, assess, report, render; see
docs/architecture.md). A module imported under its old name (``trialsynth.io.rm5``,
``trialsynth.certainty.grade``, ...) is the *same module object* as under its new name
(``trialsynth.readers.rm5``, ``trialsynth.assess.certainty.grade``): a finder on
``sys.meta_path`` maps the old name to the new one and warns (DeprecationWarning) with the new
path. Nothing is loaded here beyond what ``import trialsynth`` already has (``import trialsynth``
stays cheap; tests/test_startup.py).
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

# old dotted name -> new dotted name; a package's entry covers its submodules
# (trialsynth.io.rm5 -> trialsynth.readers.rm5). The longest matching old name wins.
MOVED_MODULES: dict[str, str] = {
    "trialsynth.io": "trialsynth.readers",
    "trialsynth.protocol": "trialsynth.review.protocol",
    "trialsynth.arms": "trialsynth.review.arms",
    "trialsynth.inventory": "trialsynth.review.inventory",
    "trialsynth.settings_inference": "trialsynth.review.settings_inference",
    "trialsynth.checking": "trialsynth.analyse.checking",
    "trialsynth.certainty": "trialsynth.assess.certainty",
    "trialsynth.sensitivity": "trialsynth.assess.sensitivity",
    "trialsynth.bayes": "trialsynth.assess.bayes",
    "trialsynth.bias": "trialsynth.assess.bias",
    "trialsynth.sequential": "trialsynth.assess.sequential",
    "trialsynth.sequential.plot": "trialsynth.render.figures.tsa",
    "trialsynth.report.html": "trialsynth.render.html",
    "trialsynth.report.figures": "trialsynth.render.figures",
    "trialsynth.report.exports": "trialsynth.render.exports",
    "trialsynth.report.sof_docx": "trialsynth.render.sof_docx",
    "trialsynth.nma.render": "trialsynth.render.nma_text",
    # the risk-of-bias tools are review data; the GRADE rule table sits below bias and certainty
    "trialsynth.certainty.rob": "trialsynth.review.rob",
    "trialsynth.certainty.rob1": "trialsynth.review.rob1",
    "trialsynth.certainty.rob2": "trialsynth.review.rob2",
    "trialsynth.certainty.rules": "trialsynth.assess.rules",
    "trialsynth.report.figures._forest_draw": "trialsynth.render.figures.forest_draw",
}

# names that left a package that itself stayed: package -> {name: module now defining it}
MOVED_NAMES: dict[str, dict[str, str]] = {
    "trialsynth.assess.sequential": {"plot_tsa": "trialsynth.render.figures.tsa"},
}


def new_name(old: str) -> str | None:
    """The current dotted name of a module imported as ``old``, or None if it did not move."""
    parts = old.split(".")
    for end in range(len(parts), 1, -1):  # longest old prefix first
        target = MOVED_MODULES.get(".".join(parts[:end]))
        if target is not None:
            return ".".join([target, *parts[end:]])
    return None


def _warn(old: str, new: str, stacklevel: int) -> None:
    # ``stacklevel`` counts the frames of this module to leave; the warnings module skips the
    # import machinery's own frames, so the warning points at the line that used the old name
    warnings.warn(f"{old} has moved to {new}; import it from there (the old name will be "
                  "removed in a later version)", DeprecationWarning, stacklevel=stacklevel)


class _AliasLoader:
    """Loads an old name as the module already known under its new name."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.real_spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = import_module(self.new)
        self.real_spec = module.__spec__
        _warn(self.old, self.new, 3)  # _warn, create_module, (import machinery), importer
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system set the alias spec on the module: give it back its own
        module.__spec__ = self.real_spec


class MovedFinder:
    """``sys.meta_path`` finder for the old names in :data:`MOVED_MODULES`."""

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        parent = new.rpartition(".")[0]
        try:
            import_module(parent)
        except ImportError:
            return None
        from importlib.util import find_spec

        if find_spec(new) is None:  # no such module under the new name either
            return None
        return ModuleSpec(fullname, _AliasLoader(fullname, new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): before the path finder, which would
    otherwise load a second copy of ``trialsynth.readers.rm5`` as ``trialsynth.io.rm5``."""
    if not any(f is MovedFinder for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder)  # type: ignore[arg-type]


def moved_name(module: str, name: str) -> Any:
    """A public name that moved out of ``module`` (a package's ``__getattr__``), with a warning;
    AttributeError as usual for any other name."""
    where = MOVED_NAMES.get(module, {}).get(name)
    if where is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    _warn(f"{module}.{name}", f"{where}.{name}", 4)  # _warn, moved_name, __getattr__, caller
    value = getattr(import_module(where), name)
    setattr(sys.modules[module], name, value)  # warned once: ``from m import name`` looks twice
    return value
