"""Readers and writers for the shipped catalogue files in ``seed_data/data/``.

Writers are deterministic: the same rows give byte-identical files (sorted keys, gzip header with
``mtime=0`` and no file name), so a rebuild that changes nothing shows no diff. Each file is written
to a temporary name next to the target and renamed into place, so a crashed build never leaves half a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

DATA_DIR = Path(__file__).parent / "data"

# zlib's output for a given level is stable, so level 9 keeps files both small and reproducible.
_GZIP_LEVEL = 9


def _json_default(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):  # datetime is a date subclass: isoformat covers both
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def _dumps(obj: object, *, indent: int | None = None) -> str:
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        obj, sort_keys=True, ensure_ascii=False, indent=indent, separators=separators, default=_json_default
    )


@contextmanager
def _atomic_text(path: Path, *, compressed: bool) -> Iterator[IO[str]]:
    """A text handle on a temporary file that replaces ``path`` when the block ends without an error."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as raw:
            if compressed:
                with (
                    gzip.GzipFile(
                        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_GZIP_LEVEL
                    ) as gz,
                    io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text,
                ):
                    yield text
            else:
                with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text:
                    yield text
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_jsonl_gz(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as gzipped JSON Lines (sorted keys, UTF-8, dates as ISO strings); return the count."""
    n_rows = 0
    with _atomic_text(path, compressed=True) as handle:
        for row in rows:
            handle.write(_dumps(row))
            handle.write("\n")
            n_rows += 1
    return n_rows


def read_jsonl_gz(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the objects of a gzipped JSON Lines file, one per non-empty line."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(
                    f"{Path(path).name}:line {line_no}: expected a JSON object (got {line[:80]!r})"
                )
            yield row


def write_csv_gz(path: Path, header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as gzipped UTF-8 CSV under ``header`` (``None`` -> empty cell); return the row count.

    A row key that is not in ``header`` is an error, so a renamed column can't vanish silently.
    """
    n_rows = 0
    with _atomic_text(path, compressed=True) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header), lineterminator="\n", extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
            n_rows += 1
    return n_rows


def read_csv_gz(path: Path) -> Iterator[dict[str, str]]:
    """Yield the rows of a gzipped UTF-8 CSV with a header row, as dicts of strings (empty cell = ``""``)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as UTF-8 JSON with sorted keys, one-space indent and a trailing newline."""
    with _atomic_text(path, compressed=False) as handle:
        handle.write(_dumps(obj, indent=1))
        handle.write("\n")


def read_json(path: Path) -> Any:
    """Read a UTF-8 JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
