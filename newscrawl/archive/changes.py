"""What changed in the archive since a point: the net change of each article.

Read from the index's change journal, which every write, move and removal adds to
in its own transaction: the work of a run that was killed is there too, which the
runs log (one line at a run's end) cannot give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from newscrawl.archive.runlog import instant, run_end

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from newscrawl.archive.index import ArchiveIndex, Change


class UnknownPointError(ValueError):
    """``--since`` names no run of this archive and is not a time."""


@dataclass
class _Net:
    before: str | None  # the article's path at the point, None if it had none
    now: str | None  # its path now, None if removed
    last: Change


def net_changes(journal: Iterable[Change]) -> list[dict[str, Any]]:
    """One line per article that changed, in the order of their last change.

    Created then updated is "created"; created then removed is nothing; a move is
    "moved" with the path it had at the point (``old_path``); updated after a move
    is still "moved"; removed is "removed" at the path it had.
    """
    nets: dict[str, _Net] = {}
    for change in journal:
        net = nets.get(change.doc_id)
        if net is None:
            before = (
                None
                if change.change == "created"
                else (change.old_path if change.change == "moved" else change.path)
            )
            net = nets[change.doc_id] = _Net(before, None, change)
        net.now = None if change.change == "removed" else change.path
        net.last = change
        # Keep the dict ordered by last change.
        nets[change.doc_id] = nets.pop(change.doc_id)
    lines = []
    for doc_id, net in nets.items():
        if net.before is None and net.now is None:
            continue
        if net.before is None:
            kind, path, old = "created", net.now, None
        elif net.now is None:
            kind, path, old = "removed", net.before, None
        elif net.now != net.before:
            kind, path, old = "moved", net.now, net.before
        elif net.last.change == "withdrawn":
            # Sina took the page down: the archive keeps the article.
            kind, path, old = "withdrawn", net.now, None
        else:
            kind, path, old = "updated", net.now, None
        line: dict[str, Any] = {
            "path": path,
            "change": kind,
            "doc_id": doc_id,
            "run": net.last.run,
            "at": net.last.at,
        }
        if old is not None:
            line["old_path"] = old
        lines.append(line)
    return lines


def changes_since(root: Path, index: ArchiveIndex, since: str) -> list[dict[str, Any]]:
    """The net changes after ``since``: a run id (what later runs did) or a time.

    Raises UnknownPointError (a usage error) for anything else.
    """
    last = index.last_change_of_run(since)
    if last is not None:
        return net_changes(index.changes(after_seq=last))
    end = run_end(root, since)
    if end is not None:
        # A run that changed nothing: what came after its end.
        return net_changes(index.changes(after_time=_utc(instant(end))))
    try:
        moment = instant(since)
    except ValueError as exc:
        raise UnknownPointError(str(exc)) from exc
    return net_changes(index.changes(after_time=_utc(moment)))


def _utc(moment: datetime) -> str:
    # As the journal writes times, so that they compare as strings.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
