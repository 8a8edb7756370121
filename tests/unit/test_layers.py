"""The layer rule of docs/architecture.md, checked on the real import graph.

The contracts live in pyproject.toml (`[tool.importlinter]`), so `lint-imports` and this test read
the same rule. Each contract is also shown to fail on a deliberately added bad import: a check that
cannot fail would guard nothing.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import grimp
import importlinter.api  # noqa: F401  (configures import-linter's settings on import)
import pytest
from importlinter.application.use_cases import read_user_options
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain.contract import Contract

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = read_user_options(str(ROOT / "pyproject.toml"))
KINDS: dict[str, type[Contract]] = {"layers": LayersContract, "acyclic_siblings": AcyclicSiblingsContract}
#: The stages: handed their settings by a surface or an agent, never loading them themselves.
STAGES = ("ingest", "vision", "track", "hotlist", "alerts", "store", "policy")


def _graph() -> Any:
    return grimp.build_graph(
        *OPTIONS.session_options["root_packages"],
        exclude_type_checking_imports=True,
        cache_dir=None,
    )


def _contract(contract_id: str) -> Contract:
    (options,) = [c for c in OPTIONS.contracts_options if c.get("id") == contract_id]
    return KINDS[options["type"]](
        name=options["name"], session_options=OPTIONS.session_options, contract_options=options
    )


@pytest.fixture(scope="module")
def graph() -> Any:
    return _graph()


@pytest.mark.parametrize("contract_id", ["layers", "acyclic"])
def test_contract_is_kept(graph: Any, contract_id: str) -> None:
    check = _contract(contract_id).check(copy.deepcopy(graph), verbose=False)
    assert check.kept, f"{contract_id} broken (run `lint-imports` to see each import): {check.metadata}"


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("platewatch.engine.store.reads", "platewatch.engine.api"),  # a stage importing a surface
        ("platewatch.engine.vision.types", "platewatch.engine.track.tracker"),  # vision under track
        ("platewatch.engine.config.settings", "platewatch.engine.hotlist.index"),  # a foundation up
        ("platewatch.engine.commands.run", "platewatch.agents.app"),  # the engine importing agents
    ],
)
def test_an_upward_import_breaks_the_layers(graph: Any, importer: str, imported: str) -> None:
    bad = copy.deepcopy(graph)
    bad.add_import(importer=importer, imported=imported, line_number=1, line_contents="import x")
    assert not _contract("layers").check(bad, verbose=False).kept


def test_a_cycle_breaks_acyclic_siblings(graph: Any) -> None:
    bad = copy.deepcopy(graph)
    # vision.pipeline imports vision.types; the reverse closes a cycle between siblings.
    bad.add_import(
        importer="platewatch.engine.vision.types",
        imported="platewatch.engine.vision.pipeline",
        line_number=1,
        line_contents="import x",
    )
    assert not _contract("acyclic").check(bad, verbose=False).kept


def _calls_load_settings(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Name | ast.Attribute) and "load_settings" in ast.unparse(node)
        for node in ast.walk(tree)
    )


def test_stages_are_handed_their_settings() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for stage in STAGES
        for path in sorted((ROOT / "engine" / stage).rglob("*.py"))
        if _calls_load_settings(path)
    ]
    assert offenders == [], "stages take settings from their caller; these load them: " + ", ".join(offenders)
