"""Articles we wrote ourselves, and a renderer that lays them out the way scrapers do.

Tests build dump files from these instead of copying real news text into the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shape = Literal[
    "full",  # title / caption x2 / TT / title / caption x2
    "marker_20",  # title / TT / 20 / title
    "marker",  # title / TT / title
    "no_caption_credit",  # title / caption x2 (no credit) / TT / title / caption x2
    "bare",  # title, then the body
    "repeated_title",  # title / title, no marker
]
SHAPES: tuple[Shape, ...] = (
    "full",
    "marker_20",
    "marker",
    "no_caption_credit",
    "bare",
    "repeated_title",
)


@dataclass(frozen=True)
class Story:
    title: str
    paragraphs: tuple[str, ...]
    caption: str | None = None  # without the credit
    credit: str | None = None  # as written in the caption: "AP", "AFP", "Reuters"...

    @property
    def caption_line(self) -> str | None:
        if self.caption is None:
            return None
        return f"{self.caption} ({self.credit})" if self.credit else self.caption


HARBOUR = Story(
    title="Harbour Town Council Approves New Ferry Timetable After Long Debate",
    caption="Passengers wait on the pier of Harbour Town before the morning crossing.",
    credit="AP",
    paragraphs=(
        "The council of Harbour Town voted on Tuesday to approve a new ferry timetable, ending "
        "a debate that had lasted for most of the autumn.",
        "Under the plan, the first crossing will leave at six in the morning and the last at "
        "eleven at night, adding four sailings a day in the summer months.",
        "\u201cThis is the timetable people asked for,\u201d said Mayor Alma Quist, who chaired "
        "the meeting. Opponents said the extra sailings would strain the old pier.",
        "The new timetable takes effect in March.",
    ),
)

ORCHARD = Story(
    title="Orchard Growers Report Record Apple Harvest in the Northern Valley",
    caption="A worker sorts apples at a packing house in the Northern Valley.",
    credit="AFP",
    paragraphs=(
        "Growers in the Northern Valley picked more apples this season than in any year since "
        "records began, the valley's growers' cooperative said on Monday.",
        "A mild spring and late rains helped the crop, cooperative chairman Pavel Dorn told "
        "reporters, adding that prices had fallen as a result.",
        "\u201cWe have never seen trees this full,\u201d Dorn said.",
    ),
)

LIBRARY = Story(
    title="City Library Extends Opening Hours for Exam Season",
    paragraphs=(
        "The central library will stay open until midnight during the four weeks of the exam "
        "season, its director announced.",
        "Students had collected more than two thousand signatures asking for longer hours.",
    ),
)

BRIDGE = Story(
    title="Engineers Begin Inspection of the Old Stone Bridge",
    caption="The old stone bridge over the river, seen from the east bank.",
    credit="Reuters",
    paragraphs=(
        "Engineers began a two-week inspection of the old stone bridge on Wednesday after "
        "residents reported new cracks in its central arch.",
        "Traffic will be limited to one lane while the work goes on.",
        "The bridge, built in the eighteenth century, carries about nine thousand vehicles a day.",
    ),
)

# Arabic, written for these tests: a new library opens in the city centre.
ARABIC = Story(
    title="افتتاح مكتبة جديدة في وسط المدينة",
    paragraphs=(
        "افتتحت البلدية يوم الأحد مكتبة عامة جديدة في وسط المدينة، تضم أكثر من عشرين ألف كتاب.",
        "وقال مدير المكتبة إن القاعات ستبقى مفتوحة حتى منتصف الليل خلال فترة الامتحانات.",
        "ويأمل السكان أن تصبح المكتبة مكانا للقاء والقراءة للأطفال والكبار.",
    ),
)

STORIES = (HARBOUR, ORCHARD, LIBRARY, BRIDGE)


def render(story: Story, shape: Shape = "full", caption_repeats: int = 2) -> str:
    """One article as a scraper lays it out (no trailing newline)."""
    caption = story.caption_line
    captions = [caption] * caption_repeats if caption else []
    lines: list[str] = [story.title, ""]
    if shape in ("full", "no_caption_credit"):
        if shape == "no_caption_credit" and story.caption:
            captions = [story.caption] * caption_repeats
        lines += [*captions, "TT", "", story.title, ""]
        if captions:
            lines += [*captions, ""]
    elif shape == "marker_20":
        lines += ["TT", "20", "", story.title, ""]
    elif shape == "marker":
        lines += ["TT", "", story.title, ""]
    elif shape == "repeated_title":
        lines += [story.title, ""]
    for paragraph in story.paragraphs:
        lines += [paragraph, ""]
    return "\n".join(lines).rstrip("\n")


def render_dump(
    stories: tuple[Story, ...] | list[Story],
    shapes: tuple[Shape, ...] | list[Shape] | None = None,
    separator_blank_lines: int = 3,
    newline: str = "\n",
) -> str:
    """Several articles, separated by blank lines, ending with a newline."""
    shapes = shapes or ["full"] * len(stories)
    separator = "\n" * (separator_blank_lines + 1)
    text = separator.join(render(s, shape) for s, shape in zip(stories, shapes, strict=True))
    return (text + "\n").replace("\n", newline)


def seed_like_dump() -> str:
    """Two articles shaped like the seed dump: full headers, credits AP and AFP."""
    return render_dump([HARBOUR, ORCHARD])
