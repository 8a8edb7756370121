"""Every package directory must be listed in pyproject.toml, or a wheel would silently lack it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_in_the_wheel() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    mapping = project["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, directory in mapping.items():
        for init in (ROOT / directory).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / directory)
            found.add(".".join([package, *rel.parts]))
    missing = found - listed
    assert not missing, f"add to [tool.setuptools].packages in pyproject.toml: {sorted(missing)}"
    assert listed <= found, f"listed but not on disk: {sorted(listed - found)}"


def test_codecs_is_not_a_top_level_import() -> None:
    import codecs

    import platewatch.codecs

    assert hasattr(codecs, "encode")  # the standard library module is untouched
    assert platewatch.codecs.__name__ == "platewatch.codecs"
