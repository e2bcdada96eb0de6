"""`.env.example` names every setting with its default value, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

from shared.config import ENV_PREFIX, Settings, load_settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
_ASSIGNMENT = re.compile(r"^(QUANT_[A-Z0-9_]+)=")
_COMMENTED_EXAMPLE = re.compile(r"^#\s*(QUANT_[A-Z0-9_]+)=", re.MULTILINE)


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _entries() -> dict[str, str]:
    values = dotenv_values(ENV_EXAMPLE)
    valueless = sorted(name for name, value in values.items() if value is None)
    assert not valueless, f"lines without '=': {valueless}"
    return {name: value for name, value in values.items() if value is not None}


def test_names_exactly_the_settings_fields() -> None:
    names = set(_entries())
    expected = {_env_name(field) for field in Settings.__struct_fields__}
    assert sorted(expected - names) == [], "settings missing from .env.example"
    assert sorted(names - expected) == [], ".env.example names unknown settings"


def test_names_each_setting_once() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    names = [m.group(1) for line in lines if (m := _ASSIGNMENT.match(line))]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


@pytest.mark.parametrize("field", Settings.__struct_fields__)
def test_each_value_is_the_settings_default(field: str) -> None:
    name = _env_name(field)
    loaded = load_settings(environ={name: _entries()[name]}, env_file=None)
    assert getattr(loaded, field) == getattr(Settings(), field), name


def test_the_whole_file_loads_as_the_defaults() -> None:
    assert load_settings(environ=_entries(), env_file=None) == Settings()


def test_the_file_works_as_a_dotenv_file() -> None:
    assert load_settings(environ={}, env_file=ENV_EXAMPLE) == Settings()


def test_every_setting_sits_under_a_comment() -> None:
    previous = ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if _ASSIGNMENT.match(line):
            # A run of related settings may share the comment above its first line.
            assert previous.startswith("#") or _ASSIGNMENT.match(previous), line
        previous = line


def test_commented_production_examples_name_real_settings() -> None:
    examples = set(_COMMENTED_EXAMPLE.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    assert {"QUANT_DATABASE_URL", "QUANT_MODE", "QUANT_JWT_SECRET"} <= examples
    known = {_env_name(field) for field in Settings.__struct_fields__}
    assert sorted(examples - known) == []


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [
        f"QUANT_{name.upper()}"
        for name in Settings.__struct_fields__
        if f"`QUANT_{name.upper()}`" not in readme
    ]
    assert not missing, f"README.md does not document {missing}"
