"""Rows to records and back: the domain's records (bot.domain.records) read from rows of
either engine, and the column names SQL text may use."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from storage.db import Row

R = TypeVar("R")


def from_row(model: type[R], row: Row) -> R:
    """A `model` record of a row: the columns that are its fields (a row may have more)."""
    names = column_names(model)
    return model(**{k: row[k] for k in row.keys() if k in names})  # noqa: SIM118 (a Row)


def column_names(model: type[Any]) -> frozenset[str]:
    """The fields of a record, worked out once per record type (rows are read by the
    thousand a second; `dataclasses.fields` is about 6 us a call)."""
    names = _COLUMNS.get(model)
    if names is None:
        if not is_dataclass(model):
            raise TypeError(f"{model.__name__} is not a record")
        names = _COLUMNS[model] = frozenset(f.name for f in fields(model))
    return names


_COLUMNS: dict[type[Any], frozenset[str]] = {}


def checked_columns(model: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    """Refuse column names that are not fields of `model` (they end up in SQL text)."""
    unknown = set(values) - column_names(model)
    if unknown:
        raise ValueError(f"unknown {model.__name__} columns: {sorted(unknown)}")
    return values
