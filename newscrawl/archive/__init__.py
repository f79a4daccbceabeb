"""The archive on disk: article files, their index, the run lock and the run log.

Everything that touches the archive folder lives in this package. The crawler's
own state lives in a hidden folder inside the archive (``.newscrawl/``), which
Hexo and most tools skip like every dotfile.
"""

from __future__ import annotations

from newscrawl.archive.files import (
    DEFAULT_PATH_TEMPLATE,
    UnsafePathError,
    atomic_write,
    check_component,
    fsync_dir,
    is_temp_file,
    relative_path,
)

__all__ = [
    "DEFAULT_PATH_TEMPLATE",
    "UnsafePathError",
    "atomic_write",
    "check_component",
    "fsync_dir",
    "is_temp_file",
    "relative_path",
]
