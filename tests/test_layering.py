"""Layering: the logic in stackcheck/ never imports pytest; fixtures/ adapts it to pytest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stackcheck"
FORBIDDEN = {"pytest", "_pytest", "pluggy", "allure_pytest"}
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module a source imports (absolute imports only)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_the_package_has_modules() -> None:
    assert len(MODULES) > 20  # a wrong path would make the next test vacuous


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_does_not_import_pytest(module: Path) -> None:
    forbidden = imported_roots(module.read_text(encoding="utf-8")) & FORBIDDEN
    assert not forbidden, f"{module.relative_to(PACKAGE.parent)} imports {sorted(forbidden)}"


@pytest.mark.parametrize(
    "source",
    [
        "import pytest",
        "import _pytest.config as config",
        "from pytest import fixture",
        "def f():\n    from _pytest.nodes import Item\n",
        "import importlib\nimportlib.import_module('pytest')",
    ],
)
def test_the_scan_sees_every_import_form(source: str) -> None:
    assert imported_roots(source) & FORBIDDEN
