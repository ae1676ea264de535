"""Reading the configuration: the TOML file, then ``VESTNIK_*`` environment overrides.

The file is found at ``--config``, else ``$VESTNIK_CONFIG``, else ``./vestnik.toml`` if present.
Any key can be overridden from the environment as ``VESTNIK_<SECTION>_<KEY>`` in upper case
(``VESTNIK_TRUNK_HOST``); top-level keys are ``VESTNIK_<KEY>`` (``VESTNIK_DATA_DIR``).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vestnik.config.checks import check_config
from vestnik.config.settings import Config, ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Settings = TypeVar("_Settings", bound="DataclassInstance")

ENV_PREFIX = "VESTNIK_"
# VESTNIK_* variables that are not settings: the config file's path, and what the scripts and
# the test suite read (docs/configuration.md). Any other unknown one draws a warning.
OTHER_VARIABLES = frozenset(
    {"VESTNIK_CONFIG", "VESTNIK_EXTRAS", "VESTNIK_CI", "VESTNIK_TEST_PG_URL"}
)
# Keys that changed name: the old name is refused with the new one in the message.
RENAMED_KEYS = {
    "dialer.drain_timeout_seconds": "dialer.shutdown_grace",
    "log_level": "log.level",
    "trunk.domain": "trunk.from_domain",
}

log = logging.getLogger("vestnik.config")


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """Read the TOML file (if any), then apply ``VESTNIK_*`` overrides, then check the values.

    ``warn`` receives what is suspicious but not fatal (an unknown ``VESTNIK_*`` variable);
    by default it goes to the ``vestnik.config`` logger.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(ENV_PREFIX + "CONFIG") or None
        if path is None and Path("vestnik.toml").exists():
            path = "vestnik.toml"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    config = _build(Config, raw, "")
    _apply_env(config, env)
    _one_trunk_form(config, raw, env)
    for message in unknown_variables(env):
        (warn or log.warning)(message)
    check_config(config)
    return config


def _build(cls: type[_Settings], raw: Mapping[str, Any], where: str) -> _Settings:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in names:
            renamed = RENAMED_KEYS.get(f"{where}{key}")
            if renamed is not None:
                raise ConfigError(f"config key {where}{key} was renamed to {renamed}")
            raise ConfigError(f"unknown config key {where}{key}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}{key} must be a table")
            kwargs[key] = _build(typing.cast(type, hint), value, f"{where}{key}.")
        elif _table_list_of(hint) is not None:
            kwargs[key] = _build_tables(typing.cast(type, _table_list_of(hint)), value, key)
        else:
            kwargs[key] = _coerce(hint, value, f"{where}{key}")
    return cls(**kwargs)


def _table_list_of(hint: Any) -> type | None:
    """The dataclass of a ``list[SomeConfig]`` setting (an array of tables), else None."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list and args and dataclasses.is_dataclass(args[0]):
        return typing.cast(type, args[0])
    return None


def _build_tables(cls: type[_Settings], value: Any, key: str) -> list[_Settings]:
    """``[[key]]`` tables; each must set ``name`` (they are told apart by it)."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{key} must be an array of tables ([[{key}]])")
    tables = []
    for i, table in enumerate(value):
        if "name" not in table:
            raise ConfigError(f"{key}[{i}].name is missing: every [[{key}]] table needs one")
        tables.append(_build(cls, table, f"{key}[{i}]."))
    return tables


def _one_trunk_form(config: Config, raw: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """``[trunk]`` (or ``VESTNIK_TRUNK_*``) and ``[[trunks]]`` together are refused."""
    if not config.trunks:
        return
    prefix = variable_for("trunk") + "_"
    shorthand = [f"[trunk] {k}" for k in raw.get("trunk", {})]
    shorthand += sorted(name for name in env if name.startswith(prefix))
    if shorthand:
        raise ConfigError(
            "[[trunks]] and the one-trunk [trunk] form are both set "
            f"({', '.join(shorthand)}): use one of them"
        )


def variable_for(key: str) -> str:
    """The environment variable of a key: ``trunk.host`` → ``VESTNIK_TRUNK_HOST``."""
    return (ENV_PREFIX + key.replace(".", "_")).upper()


def setting_keys() -> list[str]:
    """Every settings key, dotted (``data_dir``, ``trunk.host`` …)."""
    keys: list[str] = []
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += [f"{f.name}.{sf.name}" for sf in dataclasses.fields(hints[f.name])]
        elif _table_list_of(hints[f.name]) is None:  # [[trunks]]: in the file only
            keys.append(f.name)
    return keys


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``VESTNIK_*`` variable that is no setting, naming the closest one."""
    known = {variable_for(key) for key in setting_keys()} | OTHER_VARIABLES
    renamed = {variable_for(old): variable_for(new) for old, new in RENAMED_KEYS.items()}
    warnings = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name in renamed:
            hint = f"; it was renamed to {renamed[name]}"
        else:
            # Compared without the common prefix, which would make any two names look alike.
            suffixes = sorted(k.removeprefix(ENV_PREFIX) for k in known)
            close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
            hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        warnings.append(f"environment variable {name} is not a vestnik setting (ignored){hint}")
    return warnings


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            section = getattr(config, f.name)
            section_hints = typing.get_type_hints(type(section))
            for sf in dataclasses.fields(section):
                name = variable_for(f"{f.name}.{sf.name}")
                if name in env:
                    setattr(section, sf.name, _coerce_env(section_hints[sf.name], env[name], name))
        elif _table_list_of(hint) is None:
            name = variable_for(f.name)
            if name in env:
                setattr(config, f.name, _coerce_env(hint, env[name], name))


def _coerce_env(hint: Any, text: str, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    if origin is dict:
        try:
            return _coerce(hint, tomllib.loads(f"v = {text}")["v"], name)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name} must be an inline TOML table") from exc
    if hint is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be a boolean, got {text!r}")
    if hint is int or hint is float:
        try:
            return hint(text)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {text!r}") from exc
    return text


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings")
        return list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table")
        if typing.get_args(hint)[1:] == (str,):
            if not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{name} must be a table of strings")
        elif not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            raise ConfigError(f"{name} must be a table of integers")
        return {str(k): v for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be a boolean")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string")
        return value
    return value
