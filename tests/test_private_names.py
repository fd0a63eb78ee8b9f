"""No private name crosses modules: a name starting with ``_`` is used only by the module that
defines it, and a private module (``_common.py``) only inside the package that holds it.

The source is read with :mod:`ast` (nothing is imported). Checked: ``from trialsynth.m import
_name``; ``import trialsynth.p._m`` and ``from trialsynth.p import _m`` from outside package
``p``; and ``alias._name`` where ``alias`` is a trialsynth module bound by an import. A module's
own privates and dunder names (``__version__``) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "trialsynth"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _inside(importer: str, package: str) -> bool:
    return importer == package or importer.startswith(package + ".")


def _private_module_uses(importer: str, dotted: str) -> list[str]:
    """Private modules on the path ``dotted`` that ``importer`` is outside the package of."""
    parts = dotted.split(".")
    return [".".join(parts[:i + 1]) for i, part in enumerate(parts)
            if _private(part) and not _inside(importer, ".".join(parts[:i]))]


class _Scan(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.aliases: dict[str, str] = {}  # local name -> trialsynth module it is bound to
        self.hits: list[tuple[int, str]] = []

    def _hit(self, node: ast.AST, what: str) -> None:
        self.hits.append((node.lineno, what))

    def _absolute(self, node: ast.ImportFrom) -> str | None:
        if node.level == 0:
            return node.module
        base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not alias.name.startswith("trialsynth"):
                continue
            for private in _private_module_uses(self.module, alias.name):
                self._hit(node, f"imports private module {private}")
            if alias.asname:
                self.aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = self._absolute(node)
        if not source or not source.startswith("trialsynth"):
            return
        for private in _private_module_uses(self.module, source):
            self._hit(node, f"imports from private module {private}")
        for alias in node.names:
            full = f"{source}.{alias.name}"
            if _is_module(full):
                for private in _private_module_uses(self.module, full):
                    self._hit(node, f"imports private module {private}")
                self.aliases[alias.asname or alias.name] = full
            elif _private(alias.name) and source != self.module:
                self._hit(node, f"imports private name {alias.name} from {source}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        base: ast.AST = node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            target = self.aliases.get(base.id) or (base.id if base.id == "trialsynth" else None)
            if target is not None:
                self._check_chain(node, target, list(reversed(chain)))
                return  # the inner attributes of this chain are checked here
        self.generic_visit(node)

    def _check_chain(self, node: ast.Attribute, target: str, chain: list[str]) -> None:
        for attr in chain:
            if _is_module(f"{target}.{attr}"):
                target = f"{target}.{attr}"
                for private in _private_module_uses(self.module, target):
                    self._hit(node, f"uses private module {private}")
                continue
            if _private(attr) and target != self.module:
                self._hit(node, f"uses private name {target}.{attr}")
            return


def _hits() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        scan = _Scan(module, path.name == "__init__.py")
        scan.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out += [f"{path.relative_to(SRC.parent)}:{line}: {what}" for line, what in scan.hits]
    return out


def test_no_private_name_crosses_modules() -> None:
    hits = _hits()
    assert not hits, "private names used across modules:\n" + "\n".join(hits)


@pytest.mark.parametrize(("code", "module", "expected"), [
    ("from trialsynth.pooling.tau2 import _bracket\n", "trialsynth.api",
     "imports private name _bracket from trialsynth.pooling.tau2"),
    ("from trialsynth.render.figures import _common\n", "trialsynth.report.build",
     "imports private module trialsynth.render.figures._common"),
    ("from trialsynth.render.figures import export\nexport._LAYOUTS.clear()\n",
     "trialsynth.report.build", "uses private name trialsynth.render.figures.export._LAYOUTS"),
    ("import trialsynth.readers.rm5 as r\nr._x\n", "trialsynth.cli",
     "uses private name trialsynth.readers.rm5._x"),
])
def test_the_scan_finds_what_it_should(code: str, module: str, expected: str) -> None:
    scan = _Scan(module, False)
    scan.visit(ast.parse(code))
    assert [what for _, what in scan.hits] == [expected]


@pytest.mark.parametrize(("code", "module"), [
    ("from trialsynth import _dist\n_dist.norm_isf\n", "trialsynth.assess.bias.small_study"),
    ("from trialsynth.render.figures import _common as c\nc.clean\n", "trialsynth.render.figures.rob"),
    ("from trialsynth import __version__\n", "trialsynth.pipeline"),
    ("import trialsynth.readers.rm5 as r\nr.read_rm5\n", "trialsynth.cli"),
])
def test_the_scan_lets_through_what_is_allowed(code: str, module: str) -> None:
    scan = _Scan(module, False)
    scan.visit(ast.parse(code))
    assert scan.hits == []
