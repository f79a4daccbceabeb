"""Requests in the shared queue as JSON data, not pickle (``SCHEDULER_SERIALIZER``).

scrapy-redis serialises queued requests with pickle by default: whoever can write
to Redis could then run code on every worker. This module is a serializer for
scrapy-redis (``loads``/``dumps`` of the dict of ``request_to_dict``) that writes
JSON and reads back only what a plain Request of this project holds: JSON values,
bytes, aware datetimes, and the spider's own data classes (Channel, FeedEntry),
each field checked against its type. Reading runs no code and imports nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from newscrawl.sina.channels import Channel
from newscrawl.sina.feed import FeedEntry

#: The data classes a request may carry (in ``cb_kwargs``), by tag.
_CLASSES: dict[str, type[Any]] = {"$Channel": Channel, "$FeedEntry": FeedEntry}

#: The attributes of a plain Request (``Request.attributes``) and their JSON types.
_ATTRIBUTES: dict[str, tuple[type[Any], ...]] = {
    "url": (str,),
    "callback": (str, type(None)),
    "errback": (str, type(None)),
    "method": (str,),
    "headers": (dict,),
    "body": (bytes,),
    "cookies": (dict, list),
    "meta": (dict,),
    "encoding": (str,),
    "priority": (int,),
    "dont_filter": (bool,),
    "flags": (list,),
    "cb_kwargs": (dict,),
}


class RequestRefusedError(ValueError):
    """Queued data that is not a request of this project, as this module writes it."""


def dumps(obj: dict[str, Any]) -> bytes:
    """The JSON of a request's dict (``request_to_dict``)."""
    return json.dumps(_plain(obj), ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes) -> dict[str, Any]:
    """The request's dict of ``data``; RequestRefusedError if it is anything else."""
    try:
        found = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise RequestRefusedError(f"not JSON ({exc.__class__.__name__})") from None
    obj = _value(found)
    if not isinstance(obj, dict):
        raise RequestRefusedError(f"a JSON {type(found).__name__}, not a request")
    unknown = sorted(set(obj) - set(_ATTRIBUTES))
    if unknown:
        # "_class" among them: request_from_dict would import and call it.
        raise RequestRefusedError(f"not a plain request (keys {unknown})")
    for name, types in _ATTRIBUTES.items():
        value = obj.get(name)
        wrong = isinstance(value, bool) and bool not in types
        if name in obj and (wrong or not isinstance(value, types)):
            raise RequestRefusedError(f"request {name!r} is {type(value).__name__}")
    for name in ("callback", "errback"):
        method = obj.get(name)
        # A spider method, by name; never a private one.
        if method is not None and (not method.isidentifier() or method[0] == "_"):
            raise RequestRefusedError(f"request {name} {method!r}")
    if "url" not in obj:
        raise RequestRefusedError("a request without a url")
    return obj


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | None):
        return value
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _plain(v) for k, v in value.items()}
        # Headers have bytes names; JSON objects only str ones.
        return {"$dict": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return {"$datetime": [value.isoformat(), value.tzname()]}
    for tag, cls in _CLASSES.items():
        if type(value) is cls:
            return {tag: {f.name: _plain(getattr(value, f.name)) for f in fields(cls)}}
    raise TypeError(
        f"a request in the shared queue cannot hold a {type(value).__name__}"
        " (newscrawl/distributed/serializer.py)"
    )


def _value(found: Any) -> Any:
    if isinstance(found, list):
        return [_value(v) for v in found]
    if not isinstance(found, dict):
        return found
    tags = [k for k in found if k.startswith("$")]
    if not tags:
        return {k: _value(v) for k, v in found.items()}
    if len(found) != 1:
        raise RequestRefusedError(f"unknown tags {sorted(tags)}")
    ((tag, inner),) = found.items()
    if tag == "$bytes" and isinstance(inner, str):
        try:
            return base64.b64decode(inner, validate=True)
        except binascii.Error as exc:
            raise RequestRefusedError("bad base64 bytes") from exc
    if tag == "$dict" and isinstance(inner, list):
        pairs = [_value(p) for p in inner]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise RequestRefusedError("bad $dict")
        try:
            return dict(pairs)
        except TypeError as exc:  # a key that cannot be one (a list)
            raise RequestRefusedError("bad $dict key") from exc
    if tag == "$datetime" and isinstance(inner, list) and len(inner) == 2:
        return _datetime(*inner)
    if tag in _CLASSES and isinstance(inner, dict):
        return _instance(_CLASSES[tag], {k: _value(v) for k, v in inner.items()})
    raise RequestRefusedError(f"unknown tag {tag!r}")


def _datetime(iso: Any, zone: Any) -> datetime:
    if not isinstance(iso, str) or not isinstance(zone, str | None):
        raise RequestRefusedError("bad $datetime")
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise RequestRefusedError("bad $datetime") from exc
    offset = moment.utcoffset()
    if offset is None:
        raise RequestRefusedError("a $datetime without its time zone")
    if zone is not None and zone != moment.tzname():
        # As the hand-over keeps it: the zone's name, not only its offset.
        moment = moment.replace(tzinfo=timezone(offset, zone))
    return moment


#: What each annotation of Channel and FeedEntry admits, once the tags are read.
_CHECKS: dict[str, Any] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: type(v) is int,
    "int | None": lambda v: v is None or type(v) is int,
    "datetime | None": lambda v: v is None or isinstance(v, datetime),
    "tuple[str, str, str]": lambda v: (
        isinstance(v, list) and len(v) == 3 and all(isinstance(s, str) for s in v)
    ),
}


def _instance(cls: type[Any], values: dict[str, Any]) -> Any:
    kinds = {f.name: str(f.type) for f in fields(cls)}
    if set(values) != set(kinds):
        raise RequestRefusedError(f"bad {cls.__name__} fields {sorted(values)}")
    for name, kind in kinds.items():
        if not _CHECKS[kind](values[name]):
            raise RequestRefusedError(f"bad {cls.__name__}.{name}")
        if kind.startswith("tuple"):
            values[name] = tuple(values[name])
    return cls(**values)


_UNCHECKED = {
    f"{cls.__name__}.{f.name}"
    for cls in _CLASSES.values()
    for f in fields(cls)
    if str(f.type) not in _CHECKS
}
if _UNCHECKED:
    raise TypeError(f"serializer.py does not know how to check {sorted(_UNCHECKED)}")
