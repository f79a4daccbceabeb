"""The archive on disk: where an article goes, and writing it so it is never partial."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

#: FORMAT.md's file names: <archive>/<c1>/<c2>/<c3>/<YYYY-MM-DD>-<doc id>.md
DEFAULT_PATH_TEMPLATE = "{c1}/{c2}/{c3}/{date}-{doc_id}.md"
#: Longest file or folder name most file systems take (ext4, APFS: 255 bytes); we
#: stay well under it so a suffix such as ".tmp" always fits.
MAX_COMPONENT_BYTES = 200
#: Temporary files are hidden (Hexo and most tools skip dotfiles) and end in .tmp,
#: so a leftover from a crash is never taken for an article.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"

_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


class UnsafePathError(ValueError):
    """A path component that could escape the archive or break the file system."""


def check_component(component: str) -> str:
    """``component`` if it is a safe single file or folder name, else raise."""
    if component in ("", ".", "..") or component != component.strip():
        raise UnsafePathError(f"unsafe path component {component!r}")
    if _FORBIDDEN.search(component):
        raise UnsafePathError(
            f"path component {component!r} has a separator or control"
        )
    if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
        raise UnsafePathError(
            f"path component of {len(component.encode())} bytes"
            f" (at most {MAX_COMPONENT_BYTES}): {component[:40]!r}…"
        )
    return component


def relative_path(
    template: str, *, categories: tuple[str, str, str], date: str, doc_id: str
) -> Path:
    """The archive-relative path of an article, every component checked."""
    values = {
        "c1": check_component(categories[0]),
        "c2": check_component(categories[1]),
        "c3": check_component(categories[2]),
        "date": check_component(date),
        "doc_id": check_component(doc_id),
    }
    try:
        rendered = template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise UnsafePathError(f"bad path template {template!r}: {exc}") from exc
    # The template itself may add folders; check what it made, part by part.
    parts = rendered.split("/")
    for part in parts:
        check_component(part)
    return Path(*parts)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one.

    The bytes go to a hidden temporary file in the same folder, are flushed and
    fsynced, then renamed over ``path``; the folder is fsynced so the rename itself
    survives a power cut. On any error the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is a temporary file left by an interrupted write."""
    return path.name.startswith(TEMP_PREFIX) and path.name.endswith(TEMP_SUFFIX)
