"""Stories we wrote for the near-duplicate tests, and the edited versions a re-scrape would bring.

Each story is long enough (130+ words) that a version with a few words changed, a paragraph added
or removed, or a new headline keeps a word 5-shingle Jaccard well above 0.6 with every other
version of the same story; the stories share a topic in pairs (two on ferries, two on harvests…)
so that different stories on one topic are there too, far under 0.4.
"""

from __future__ import annotations

import dataclasses

from tests.dumps import Story


def _story(title: str, *paragraphs: str) -> Story:
    return Story(title=title, paragraphs=paragraphs)


BASE = (
    _story(
        "Island Ferry Service Adds Night Crossings for the Summer Season",
        "The island ferry company said on Monday that it would run two extra night crossings "
        "every day from June until the end of September, after a spring in which many "
        "travellers were left waiting on the quay.",
        "The new sailings will leave the mainland port at half past ten and at midnight, and "
        "will return from the island an hour later, the company's operations manager Ruth "
        "Halvorsen told a press conference in the harbour office.",
        "Local hotel owners welcomed the decision, saying that late arrivals had cost them "
        "bookings last year, while residents of the quay district asked for limits on noise "
        "from cars boarding during the night.",
        "Tickets for the night crossings go on sale next week, at the same prices as the day "
        "sailings, and passengers with bicycles will be carried free of charge until July.",
    ),
    _story(
        "Ferry Workers Vote to Strike Over Pay and Rest Breaks",
        "Crews on the coastal ferry routes voted by a large majority on Thursday to stop work "
        "for two days next month, in a dispute over pay rises and the length of rest breaks "
        "between shifts at sea.",
        "The seafarers' union said that deckhands and engineers had gone three years without a "
        "rise while fuel surcharges on tickets had doubled, and that tired crews were a danger "
        "to passengers on the winter routes.",
        "The operator called the vote disappointing and said its offer of four per cent over two "
        "years remained on the table, adding that talks could resume at any time before the "
        "first day of the strike.",
        "Passengers booked on the affected days will be offered refunds or seats on later "
        "sailings, the operator said in a statement published on its website.",
    ),
    _story(
        "Vineyards Expect Early Grape Harvest After Warm and Dry Summer",
        "Wine growers across the southern hills expect to start picking grapes almost three "
        "weeks earlier than usual, after the warmest and driest summer recorded by the regional "
        "weather service in half a century.",
        "The grapes are small but very sweet, said Lucia Ferrand, who runs a family estate of "
        "forty hectares near the river, and the wines of this year could be strong and rich if "
        "the weather holds until the end of the month.",
        "Smaller growers without irrigation fear lower yields, however, and the growers' "
        "association has asked the regional government for help with the cost of water from "
        "the reservoirs.",
        "Picking traditionally begins with a festival in the old market square, which the town "
        "council has agreed to move forward to the last weekend of August.",
    ),
    _story(
        "Potato Farmers Count Losses as Heavy Rain Floods the Lowland Fields",
        "Potato farmers in the lowlands said on Friday that a week of heavy rain had flooded "
        "thousands of hectares of fields just before the harvest, leaving much of the crop to "
        "rot in the waterlogged ground.",
        "Some growers have lost more than half of their potatoes, according to the farmers' "
        "union, which estimated the damage at tens of millions and called for emergency "
        "support from the agriculture ministry.",
        "Machines cannot enter the soaked fields, said farmer Joost van der Berg, standing "
        "beside a tractor stuck in the mud, and every day of waiting means more tubers lost "
        "to disease.",
        "Supermarkets have warned that prices of chips and crisps could rise in the coming "
        "months if imports cannot make up for the shortfall.",
    ),
    _story(
        "City Council Approves New Cycle Lanes Along the Riverside Road",
        "The city council voted on Wednesday to build protected cycle lanes along the whole "
        "length of the riverside road, a project that cyclists' groups have demanded for more "
        "than a decade.",
        "Work will start in the spring and is expected to take eighteen months, during which "
        "one lane for cars will be closed in each direction, the council's head of transport "
        "Miriam Okafor said after the vote.",
        "Shop owners along the road said they feared losing customers who arrive by car, and "
        "asked for a number of short stay parking places to be kept near the bridge and the "
        "covered market.",
        "The council said the lanes would be paid for largely by a national fund for safer "
        "streets, with the city contributing about a quarter of the total cost.",
    ),
    _story(
        "Tram Line Extension to the Airport Delayed by Two More Years",
        "The extension of the tram line to the airport will open two years later than planned, "
        "the regional transport authority admitted on Tuesday, blaming a shortage of rails and "
        "problems with a tunnel under the motorway.",
        "Engineers found water seeping into the tunnel works last winter, and repairs to the "
        "concrete lining are still going on, the authority's chief engineer Stefan Lindqvist "
        "told members of the regional assembly.",
        "Opposition members called the delay a scandal and demanded an independent review of "
        "the project's budget, which has already grown by a third since the first contracts "
        "were signed.",
        "Until the line opens, buses will keep running every ten minutes between the main "
        "station and the airport terminals, the authority said.",
    ),
    _story(
        "Museum Returns Carved Wooden Masks to the Village Where They Were Made",
        "The national museum handed back twelve carved wooden masks on Saturday to the "
        "mountain village where they were made more than a century ago, in a ceremony attended "
        "by hundreds of villagers.",
        "The masks were taken by a collector in the early years of the last century and sold "
        "to the museum in the nineteen thirties, its director Helena Marsh said, adding that "
        "the return had been agreed after two years of talks with the village elders.",
        "The masks will be kept in a new community house built for them and will be worn again "
        "at the spring festival, for the first time in living memory, the village head said.",
        "The museum plans to review the origins of about four hundred other objects in its "
        "collection that were bought from private collectors.",
    ),
    _story(
        "Concert Hall Reopens After Three Years of Restoration Work",
        "The old concert hall opened its doors again on Sunday evening after three years of "
        "restoration, with a sold out performance by the city orchestra and a choir of two "
        "hundred local schoolchildren.",
        "Workers repaired the painted ceiling, replaced the worn seats and rebuilt the organ, "
        "whose pipes had been damaged by a leaking roof, the hall's manager Oskar Brandt said "
        "before the concert began.",
        "Visitors praised the sound of the restored hall, though some complained that the "
        "price of tickets for the opening season was too high for families on ordinary "
        "incomes.",
        "The hall will hold free open days on the first Sunday of every month, with guided "
        "tours of the organ and the rooms behind the stage.",
    ),
)

# Paragraphs a later scrape adds (an update at the end of the story).
UPDATES = (
    "Officials said later in the day that more details would be published by the end of the week.",
    "A spokesman added on Tuesday evening that the plans had been discussed with local groups.",
    "The announcement was repeated in a statement to the regional press later that afternoon.",
    "Further questions were sent to the ministry, which did not reply before this story went out.",
    "Updated with comments from local officials and new figures given at the evening briefing.",
    "Reporting by our regional desk, with additional reporting from the capital this evening.",
    "The story was updated to add the reaction of the opposition and of the local residents.",
    "More information is expected at a public meeting to be held in the town hall next month.",
)


def _replace_word(paragraph: str, position: int, word: str) -> str:
    words = paragraph.split(" ")
    words[position % len(words)] = word
    return " ".join(words)


def versions(story: Story, number: int) -> list[Story]:
    """Five versions of ``story``: the original, two words changed, a paragraph added, a new
    headline, the last paragraph removed."""
    p = story.paragraphs
    edited = (_replace_word(p[0], 7, "reportedly"), p[1], _replace_word(p[2], 11, "also"), *p[3:])
    return [
        story,
        dataclasses.replace(story, paragraphs=edited),
        dataclasses.replace(story, paragraphs=(*p, UPDATES[number % len(UPDATES)])),
        dataclasses.replace(story, title=f"Update: {story.title.split(' ', 2)[2]}"),
        dataclasses.replace(story, paragraphs=p[:-1]),
    ]


STORY_VERSIONS: tuple[tuple[Story, ...], ...] = tuple(
    tuple(versions(story, number)) for number, story in enumerate(BASE)
)
