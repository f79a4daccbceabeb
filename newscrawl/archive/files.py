"""The archive on disk: where an article goes, and writing it so it is never partial.

Every write stays inside the archive folder: folders are walked one name at a time
without following links (``O_NOFOLLOW``), temporary files are created exclusively
(``O_EXCL``), and a link met on the way is refused. The archive folder itself may
be a link (to another disk, say): only what lies inside it is checked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from dataclasses import dataclass
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
#: The crawler's own folder inside the archive; hidden, so Hexo skips it.
STATE_DIR = ".newscrawl"
#: The fields a path template may use.
FIELDS = ("c1", "c2", "c3", "date", "doc_id")

_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")
_FIELD = re.compile(r"\{(\w+)\}")
# What a field of each kind can hold, for reading a path back (PathRules.parse).
_FIELD_PATTERN = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "doc_id": r"[0-9A-Za-z_-]+",
}
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class UnsafePathError(ValueError):
    """A path component that could escape the archive or break the file system."""


class NotAFileError(OSError):
    """Something other than a regular file (a folder, a link) is where a file goes.

    Not a fault of the disk: that one article cannot be written; the run goes on.
    """


def check_component(component: str) -> str:
    """``component`` if it is a safe, visible single file or folder name, else raise.

    A name starting with ``.`` would be hidden: Hexo, ``verify`` and most tools
    skip it, so an article under it would be archived and never seen.
    """
    if component in ("", ".", "..") or component != component.strip():
        raise UnsafePathError(f"unsafe path component {component!r}")
    if component.startswith("."):
        raise UnsafePathError(f"path component {component!r} would be hidden")
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


@dataclass(frozen=True, slots=True)
class PathFields:
    """What an article's path says: its doc id, and the day and categories if the
    template holds them."""

    doc_id: str
    date: str | None
    categories: tuple[str, ...]


class PathRules:
    """``ARCHIVE_PATH_TEMPLATE`` both ways: an article's path, and a path's article."""

    def __init__(self, template: str) -> None:
        names = _FIELD.findall(template)
        unknown = sorted(set(names) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"ARCHIVE_PATH_TEMPLATE {template!r} uses unknown field(s)"
                f" {', '.join(unknown)}: use {', '.join(FIELDS)}"
            )
        if names.count("doc_id") != 1:
            raise ValueError(
                f"ARCHIVE_PATH_TEMPLATE {template!r} must contain {{doc_id}} once:"
                " one article, one file"
            )
        self.template = template
        pattern, position = [], 0
        seen: set[str] = set()
        for match in _FIELD.finditer(template):
            pattern.append(re.escape(template[position : match.start()]))
            name = match.group(1)
            if name in seen:
                pattern.append(f"(?P={name})")
            else:
                pattern.append(f"(?P<{name}>{_FIELD_PATTERN.get(name, '[^/]+')})")
                seen.add(name)
            position = match.end()
        pattern.append(re.escape(template[position:]))
        self._inverse = re.compile("".join(pattern))

    def path(self, *, categories: tuple[str, str, str], date: str, doc_id: str) -> Path:
        """The archive-relative path of an article; UnsafePathError if unsafe."""
        return relative_path(
            self.template, categories=categories, date=date, doc_id=doc_id
        )

    def parse(self, path: str) -> PathFields | None:
        """What the '/'-separated relative ``path`` says, or None if the template
        does not make such a path."""
        match = self._inverse.fullmatch(path)
        if match is None:
            return None
        found = match.groupdict()
        return PathFields(
            doc_id=found["doc_id"],
            date=found.get("date"),
            categories=tuple(found[c] for c in ("c1", "c2", "c3") if c in found),
        )


# --- Writing without leaving the archive ------------------------------------------


def open_folder(root: Path, relative: Path, *, create: bool) -> int:
    """A file descriptor of the folder ``root/relative``, reached without following a
    link below ``root``; folders made on the way if ``create``.

    Raises NotAFileError when a link or a file stands where a folder should be.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in relative.parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            try:
                child = os.open(name, _NOFOLLOW_DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise NotAFileError(
                        exc.errno, f"{name!r} in {relative} is a link or a file"
                    ) from exc
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def regular_or_absent(folder_fd: int, name: str) -> bool:
    """True if ``name`` in the folder is a regular file, False if it is absent.

    Raises NotAFileError for anything else (a folder, a link): the archive never
    writes through it nor over it.
    """
    try:
        found = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(found.st_mode):
        kind = "a link" if stat.S_ISLNK(found.st_mode) else "not a regular file"
        raise NotAFileError(errno.EEXIST, f"{name!r} is {kind}")
    return True


def atomic_write(path: Path, data: bytes, *, root: Path | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one.

    The bytes go to a new hidden temporary file (``write_temp``) in the same
    folder, fsynced, then renamed over ``path``; the folder is fsynced so the
    rename itself survives a power cut. On any error the temporary file is
    removed. Below ``root`` (default: the file's folder) no link is followed and
    none is written over. (The archive owner writes a batch's files this way,
    each step once for the whole batch.)
    """
    base = path.parent if root is None else root
    base.mkdir(parents=True, exist_ok=True)
    folder = open_folder(base, path.parent.relative_to(base), create=True)
    try:
        regular_or_absent(folder, path.name)
        temp = write_temp(folder, path.name, data)
        try:
            fsync_file(folder, temp)
            os.replace(temp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=folder)
            raise
        os.fsync(folder)
    finally:
        os.close(folder)


def write_temp(folder: int, name: str, data: bytes) -> str:
    """Write ``data`` to a new temporary file for ``name`` in the folder ``folder``
    (a descriptor): hidden, created exclusively and never through a link; not
    synced. Its name; on any error nothing is left (OSError raised)."""
    temp = f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    fd = os.open(
        temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder
    )
    try:
        try:
            # os.write, not a file object: no fstat, isatty and lseek per file.
            rest = memoryview(data)
            while rest:
                rest = rest[os.write(fd, rest) :]
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder)
        raise
    return temp


def fsync_file(folder: int, name: str) -> None:
    """fsync the file ``name`` of the folder ``folder`` (a descriptor), reached
    without following a link."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(root: Path, relative: Path) -> bool:
    """Remove the regular file ``root/relative`` durably; False if it was absent."""
    try:
        folder = open_folder(root, relative.parent, create=False)
    except FileNotFoundError:
        return False
    try:
        if not regular_or_absent(folder, relative.name):
            return False
        os.unlink(relative.name, dir_fd=folder)
        os.fsync(folder)
        return True
    finally:
        os.close(folder)


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
