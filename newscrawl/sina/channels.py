"""Roll-feed channels: which feed to read and where its articles go in the archive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The default image of Sina Finance, used as ``headimg`` when a body has none.
SINA_FINANCE_IMAGE = "https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png"


@dataclass(frozen=True, slots=True)
class Channel:
    """One roll-feed channel (pageid, lid) and its place in the archive."""

    name: str
    pageid: int
    lid: int
    categories: tuple[str, str, str]
    author: str = "新浪财经"
    default_image: str = SINA_FINANCE_IMAGE

    @classmethod
    def from_mapping(cls, name: str, value: Mapping[str, Any]) -> Channel:
        """Build a channel from a ``SINA_CHANNELS`` entry; raise ValueError if bad."""
        try:
            categories = tuple(str(c) for c in value["categories"])
            pageid, lid = int(value["pageid"]), int(value["lid"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"channel {name!r} needs integer 'pageid' and 'lid' and a list of"
                f" three 'categories' ({exc})"
            ) from exc
        if len(categories) != 3 or not all(categories):
            raise ValueError(f"channel {name!r} needs exactly three categories")
        return cls(
            name=name,
            pageid=pageid,
            lid=lid,
            categories=(categories[0], categories[1], categories[2]),
            author=str(value.get("author", "新浪财经")),
            default_image=str(value.get("default_image", SINA_FINANCE_IMAGE)),
        )


def _finance(section: str) -> list[str]:
    # The seed's channel is 新浪财经－国內: a full-width hyphen U+FF0D and the
    # traditional 內 U+5167, copied from the seed. Other sections follow its shape.
    return ["金融", "新浪财经", f"新浪财经－{section}"]


#: Channels known from SINA.md; the value of the ``SINA_CHANNELS`` setting.
DEFAULT_CHANNELS: dict[str, dict[str, Any]] = {
    "china": {"pageid": 155, "lid": 1686, "categories": _finance("国內")},
    "macro": {"pageid": 155, "lid": 1687, "categories": _finance("宏观经济")},
    "regional": {"pageid": 155, "lid": 1688, "categories": _finance("地方经济")},
    "ministries": {"pageid": 155, "lid": 1689, "categories": _finance("部委动态")},
    "banking": {"pageid": 155, "lid": 1690, "categories": _finance("金融新闻")},
    "roll": {"pageid": 384, "lid": 2519, "categories": _finance("滚动")},
    "stock": {"pageid": 384, "lid": 2671, "categories": _finance("股市")},
    "usstock": {"pageid": 384, "lid": 2672, "categories": _finance("美股")},
    "chinese_adr": {"pageid": 384, "lid": 2673, "categories": _finance("中国概念股")},
    "hkstock": {"pageid": 384, "lid": 2674, "categories": _finance("港股")},
    "research": {"pageid": 384, "lid": 2675, "categories": _finance("研究报告")},
    "global": {"pageid": 384, "lid": 2676, "categories": _finance("全球市场")},
    "forex": {"pageid": 384, "lid": 2487, "categories": _finance("外汇")},
    "industry": {"pageid": 164, "lid": 1693, "categories": _finance("产经")},
    "consumer": {"pageid": 166, "lid": 1703, "categories": _finance("消费")},
}


def load_channels(setting: Mapping[str, Mapping[str, Any]]) -> dict[str, Channel]:
    """Turn the ``SINA_CHANNELS`` setting into channels; raise ValueError if bad."""
    return {name: Channel.from_mapping(name, value) for name, value in setting.items()}
