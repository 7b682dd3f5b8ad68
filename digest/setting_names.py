"""The names settings are read by, and what to say about a name that is none: a typo in the
config file, the environment or a .env file would otherwise leave a default in place without
a word."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel

from digest.errors import ConfigError


def field_names(model: type[BaseModel]) -> set[str]:
    """The lower-case names a model's fields are read by: each field's own and its aliases
    ("from"), without the DIGEST_ prefix."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else []
        names.update(c for c in [name, *choices] if isinstance(c, str))
    return {n.lower().removeprefix("digest_") for n in names}


def check_names(table: Mapping[str, Any], known: set[str], what: str) -> None:
    """ConfigError for the first key of `table` not in `known`, with the one it likely meant."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{what} {key!r}{hint}: fix or remove it")


def check_config_keys(path: Path, known: set[str], source_keys: set[str]) -> None:
    """ConfigError naming the first key of the TOML file that no setting has ("max_paper"),
    or that no [[sources]] entry has."""
    if not path.is_file():
        return
    with path.open("rb") as file:
        data = tomllib.load(file)
    check_names(data, known, f"{path}: unknown setting")
    sources = data.get("sources")
    for number, source in enumerate(sources if isinstance(sources, list) else [], start=1):
        if isinstance(source, dict):
            check_names(
                source, source_keys, f"{path}: [[sources]] number {number} has an unknown key"
            )


def dotenv_keys(path: Path) -> dict[str, str]:
    """The variables a .env file sets (none when there is no such file)."""
    from dotenv import dotenv_values

    try:
        return {key: value or "" for key, value in dotenv_values(path).items()}
    except (OSError, UnicodeDecodeError):  # none, or unreadable: the settings say why
        return {}


def unknown_variables(environ: Mapping[str, str], known: set[str], where: str = "") -> list[str]:
    """A note for each DIGEST_ variable of `environ` not in `known` (full upper-case names),
    with the one it likely meant; `where` names the .env file they came from."""
    notes = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("DIGEST_") and upper not in known:
            # compared without the prefix that every name shares
            close = difflib.get_close_matches(upper[7:], sorted(k[7:] for k in known), n=1)
            hint = f" (did you mean DIGEST_{close[0]}?)" if close else ""
            place = f" in {where}" if where else ""
            notes.append(f"note: {name}{place} is not a setting{hint}: it is ignored")
    return notes
