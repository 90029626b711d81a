"""Tests for worker/enrich/quotes.py."""

from __future__ import annotations

import pytest

from tests.enrich.conftest import ARABIC, MINISTER, article
from worker.enrich import EnrichResources, QuotesEnricher
from worker.enrich.quotes import find_quotes


@pytest.fixture(scope="module")
def enricher(resources: EnrichResources) -> QuotesEnricher:
    return QuotesEnricher(resources.spacy_analyzer(), resources.gazetteer)


def quotes(enricher: QuotesEnricher, *paragraphs: str) -> list[dict]:
    (fields,) = enricher.enrich([article("A story", *paragraphs)])
    return fields["quotes"]


class TestFindQuotes:
    def test_curly_straight_and_guillemets(self) -> None:
        """All three kinds of quotation marks are read; short scare quotes are not quotes."""
        text = (
            '“We will build it here,” she said. He called it "a good plan for all." '
            '«Nous verrons bien demain» and a "hot" day.'
        )
        assert [q[2] for q in find_quotes(text)] == [
            "We will build it here",
            "a good plan for all.",
            "Nous verrons bien demain",
        ]


class TestQuotesEnricher:
    def test_pronoun_resolves_to_the_person_the_text_is_about(
        self, enricher: QuotesEnricher
    ) -> None:
        """ "she explained" after "Kovacs noted that President al-Haddad requested" is Kovacs."""
        (fields,) = enricher.enrich([MINISTER])
        assert [q["speaker"] for q in fields["quotes"]] == ["Anna Kovacs", "Anna Kovacs"]

    def test_named_speaker_after_quote(self, enricher: QuotesEnricher) -> None:
        """ "…,” said Mayor Alma Quist" names the speaker in full."""
        found = quotes(
            enricher,
            "The council approved the timetable on Tuesday.",
            "“This is the timetable people asked for,” said Mayor Alma Quist, who chaired the "
            "meeting.",
        )
        assert found == [
            {"text": "This is the timetable people asked for", "speaker": "Alma Quist"}
        ]

    def test_surname_speaker_is_the_full_name(self, enricher: QuotesEnricher) -> None:
        """ "Berg said: “…”" after "Thomas Berg" earlier is Thomas Berg."""
        found = quotes(
            enricher,
            "Harbour master Thomas Berg met the ferry crews on Monday.",
            "Berg said: “The pier will be closed for two weeks in March.”",
        )
        assert found[0]["speaker"] == "Thomas Berg"

    def test_organisation_speaker(self, enricher: QuotesEnricher) -> None:
        """An organisation can say something too."""
        found = quotes(
            enricher,
            "The World Health Organization said the outbreak was “under control in every "
            "district” by the end of May.",
        )
        assert found == [
            {"text": "under control in every district", "speaker": "World Health Organization"}
        ]

    def test_unattributed_quote(self, enricher: QuotesEnricher) -> None:
        """A quote the text gives no speaker for keeps speaker None."""
        found = quotes(enricher, "The banner read “no more closures in our town” in red letters.")
        assert found == [{"text": "no more closures in our town", "speaker": None}]

    def test_arabic_is_none(self, enricher: QuotesEnricher) -> None:
        """No English analysis of Arabic text: quotes are None."""
        assert enricher.enrich([ARABIC]) == [{"quotes": None}]


class TestQuoteBoundaries:
    def test_merged_continued_quote_is_not_narration(self) -> None:
        """A new opening mark ends the passage before it; narration before a colon is no quote."""
        text = (
            '"The bridge is safe," he said. "We checked every bolt. "The work took a month and '
            'the crews were tired." Speaking to the local radio, the 51-year-old added: "It will '
            'open on Friday morning."'
        )
        assert [q[2] for q in find_quotes(text)] == [
            "The bridge is safe",
            "We checked every bolt.",
            "The work took a month and the crews were tired.",
            "It will open on Friday morning.",
        ]

    def test_passage_ending_in_colon_is_narration(self) -> None:
        """Between curly marks too, a passage that introduces a quote is not a quote."""
        assert find_quotes("“The engineer, Lena Vos, told the paper:” and more") == []


class TestSpeakers:
    def test_a_relative_or_the_company_is_not_the_person_named_before(
        self, enricher: QuotesEnricher
    ) -> None:
        """ "his wife said" is someone the text does not name; "the company said" is the company
        named before, not its chief executive named last."""
        found = quotes(
            enricher,
            "Tomas Varga was jailed for fraud on Monday. “He is innocent and we will appeal,” "
            "his wife said.",
            "Keldor Systems announced the cuts on Tuesday. Its chief executive, Anna Brandt, "
            "spoke first. “The decision was painful but necessary,” the company said.",
        )
        assert [q["speaker"] for q in found] == [None, "Keldor Systems"]

    def test_description_is_the_person_the_paragraph_is_about(
        self, enricher: QuotesEnricher
    ) -> None:
        """ "the 31-year-old Norwegian added" after a paragraph about Ingrid Solberg is her."""
        found = quotes(
            enricher,
            "Ingrid Solberg won the final in straight sets on Sunday.",
            "Speaking afterwards, the 31-year-old Norwegian added: “I played the best tennis of "
            "my life today.”",
        )
        assert found[0]["speaker"] == "Ingrid Solberg"

    def test_short_form_is_the_full_name(self, enricher: QuotesEnricher) -> None:
        """A family name written first and used alone ("Wang") is the full name ("Wang Lihua")."""
        found = quotes(
            enricher,
            "The chief executive of the company, Wang Lihua, opened the plant in March.",
            "“We will hire four hundred engineers this year,” Wang said.",
        )
        assert found[0]["speaker"] == "Wang Lihua"

    def test_continued_quote_keeps_its_speaker(self) -> None:
        """A quote whose closing mark is missing, reopened at once, is continued by the next."""
        from worker.enrich.quotes import quoted_passages

        text = 'She wrote: "I am sorry for the delay. "The new date is in May." Then more.'
        assert [q[3] for q in quoted_passages(text)] == [False, True]

    def test_apposition_names_the_speaker(self, enricher: QuotesEnricher) -> None:
        """ "Her agent, Tomas Ferreira, told reporters:" is Tomas Ferreira, not the singer."""
        found = quotes(
            enricher,
            "Singer Lina Moreau has cancelled her summer concerts. Her agent, Tomas Ferreira, "
            "told reporters: “She needs three months of rest before she sings again.”",
        )
        assert found[0]["speaker"] == "Tomas Ferreira"

    def test_surname_written_in_full_in_the_text(self) -> None:
        """A surname alone is the one given name + surname the text writes ("Olli Rantanen")."""
        from worker.enrich.quotes import full_name

        text = "Norwegian Olli Rantanen won. Coach Rantanen was pleased. Rantanen said it was fun."
        assert full_name("Rantanen", {"Rantanen": "Rantanen"}, text) == "Olli Rantanen"
        assert full_name("Rantanen", {"Rantanen": "Rantanen"}, "Rantanen won.") == "Rantanen"


class TestCanonicalSpeakers:
    def test_demonym_and_title_are_not_part_of_the_speaker(self, enricher: QuotesEnricher) -> None:
        """The speaker is the person entity's form: no demonym ("Ugandan") nor title."""
        found = quotes(
            enricher,
            "Ugandan Joseph Okello broke the course record in Vienna on Sunday.",
            "“I wanted this for my family and for my town,” Okello said.",
            "Briton Sarah Whitcombe won the women's race. “The last mile was the hardest of my "
            "life,” Whitcombe said.",
        )
        assert [q["speaker"] for q in found] == ["Joseph Okello", "Sarah Whitcombe"]

    def test_owner_in_the_subject_is_not_the_speaker(self, enricher: QuotesEnricher) -> None:
        """ "Brandt's chief executive, Lena Vos, said" is Lena Vos, not Brandt (the owner)."""
        found = quotes(
            enricher,
            "Brandt Werke will close its plant in Kassel next year.",
            "“We have tried everything to keep the plant open,” Brandt's chief executive, Lena "
            "Vos, said in a statement.",
        )
        assert found[0]["speaker"] == "Lena Vos"

    def test_surname_with_a_particle_is_the_full_name(self) -> None:
        """ "al-Rashidi" (lower-case particle) is the one "Karim al-Rashidi" of the article."""
        from worker.enrich.quotes import full_name

        people = {"Karim al-Rashidi": "Karim al-Rashidi", "Omar Nasser": "Omar Nasser"}
        assert full_name("al-Rashidi", people) == "Karim al-Rashidi"

    def test_lone_word_written_in_full_in_the_text(self) -> None:
        """A lone word the model did not take for a person is the "Given Surname" the text
        writes, when the caller allows it (a person or organisation mention)."""
        from worker.enrich.quotes import full_name

        text = "The union's leader, Marc Dufour, spoke first. Dufour said: “No.”"
        assert full_name("Dufour", {}, text, written=text) == "Marc Dufour"
        assert full_name("Dufour", {}, text) is None


class TestWhoHeOrSheIs:
    def test_subject_of_a_verb_of_saying_in_the_paragraph(self, enricher: QuotesEnricher) -> None:
        """ "he said" after "…, Tom Reddick, called the plan …" in the same paragraph is Tom
        Reddick, not the minister the article is about."""
        found = quotes(
            enricher,
            "Transport Minister Helen Carver defended the new rail timetable on Monday.",
            "The opposition's transport spokesman, Tom Reddick, called the plan a failure. "
            "“Commuters will pay more for slower trains,” he said.",
        )
        assert found[0]["speaker"] == "Tom Reddick"

    def test_he_is_not_a_woman(self, enricher: QuotesEnricher) -> None:
        """ "he" skips the nearer Greta Lindholm for Paul Evers (given names tell)."""
        found = quotes(
            enricher,
            "Paul Evers, the city treasurer, presented the budget on Friday. Mayor Greta "
            "Lindholm said the city would borrow less. “We cannot spend what we do not have,” "
            "he said.",
        )
        assert found[0]["speaker"] == "Paul Evers"

    def test_name_set_off_after_the_subject(self, enricher: QuotesEnricher) -> None:
        """ "Harlow Foods' chief executive, Mark Denton, apologised" makes him the "he" of the
        quote after it, not the man the previous paragraph was about."""
        found = quotes(
            enricher,
            "Health inspector Colin Barr closed the factory in Leeds on Tuesday.",
            "Harlow Foods' chief executive, Mark Denton, apologised in a video. “I am sorry for "
            "every customer who fell ill,” he said.",
        )
        assert found[0]["speaker"] == "Mark Denton"

    def test_a_name_inside_a_quote_is_not_the_speaker(self, enricher: QuotesEnricher) -> None:
        """ "the 22-year-old" after a quote that names Erik Dahl is still the one speaking."""
        found = quotes(
            enricher,
            "Maria Olsen won the sprint stage on Sunday.",
            "“I have to thank Erik Dahl, who taught me to ride,” she said.",
            "“He was there at the finish,” the 22-year-old added.",
        )
        assert [q["speaker"] for q in found] == ["Maria Olsen", "Maria Olsen"]

    def test_apposition_after_a_described_subject(self, enricher: QuotesEnricher) -> None:
        """ "Her co-star, the Danish actor Nils Brandt, who played the villain, said" is him."""
        found = quotes(
            enricher,
            "Ruth Cole thanked the fans on Monday.",
            "Her co-star, the Danish actor Nils Brandt, who played a smuggler, said the role had "
            "changed his life: “Nobody expected the show to last three seasons.”",
        )
        assert found[0]["speaker"] == "Nils Brandt"


class TestOtherAttributions:
    def test_a_capitalised_word_is_no_verb_of_saying(self, enricher: QuotesEnricher) -> None:
        """The "States" of "the United States" is not "states": the White House says it."""
        found = quotes(
            enricher,
            "The White House said the alliance between the United States and Japan remained "
            "“as strong as it has ever been.”",
        )
        assert found[0]["speaker"] == "White House"

    def test_subject_of_the_sentence_without_a_verb_of_saying(
        self, enricher: QuotesEnricher
    ) -> None:
        """ "Mayor Ines Duarte promised “…”": no verb of saying, the sentence's subject."""
        found = quotes(
            enricher,
            "In her first speech, Mayor Ines Duarte promised “a city where nobody has to sleep "
            "outside.”",
        )
        assert found[0]["speaker"] == "Ines Duarte"


class TestTitlesAndSingleMarks:
    def test_title_of_a_work_is_not_a_quote(self) -> None:
        """A short title-case passage beside "album", "drama", "epic"... names a work."""
        text = (
            "Her second album, “Lights Over Harbour Street”, went to number one. He won for "
            "“The Quiet Season”, a drama about two brothers. The historical epic “King of the "
            "North” opened on Friday. “We Are Very Happy Today,” said the mayor."
        )
        assert [q[2] for q in find_quotes(text)] == ["We Are Very Happy Today"]

    def test_single_quotation_marks(self) -> None:
        """'…' quotes too; apostrophes ("don't", "drivers' title") and two-word scare quotes
        are not quotes."""
        text = (
            "The ministry said the country was 'sliding towards a crisis'. Fans don't care "
            "about the drivers' title, he said, calling it 'very sad' news."
        )
        assert [q[2] for q in find_quotes(text)] == ["sliding towards a crisis"]

    def test_owner_country_is_not_part_of_the_organisation(self, enricher: QuotesEnricher) -> None:
        """ "Norway's Foreign Ministry said" is the Foreign Ministry."""
        found = quotes(
            enricher,
            "Norway's Foreign Ministry said the report showed the talks were 'sliding towards "
            "a collapse'.",
        )
        assert found == [{"text": "sliding towards a collapse", "speaker": "Foreign Ministry"}]


class TestWhoHeOrSheIsMore:
    def test_title_tells_the_gender(self, enricher: QuotesEnricher) -> None:
        """ "Mr Tallis" makes Kim Tallis the "he", whatever the name list says of Kim."""
        found = quotes(
            enricher,
            "Kim Tallis, the club's captain, lifted the trophy on Saturday. Mr Tallis has "
            "played for the club for nine years.",
            "Coach Anna Brook praised the defence. “We never stopped believing,” he said.",
        )
        assert found[0]["speaker"] == "Kim Tallis"

    def test_verb_of_saying_in_a_subordinate_clause(self, enricher: QuotesEnricher) -> None:
        """ "Hale said he had backed it when Mr Quint argued for it. “…,” he said" is Hale."""
        found = quotes(
            enricher,
            "Finance Minister Oliver Hale said he had backed the plan when Simon Quint argued "
            "for it in cabinet. “It is still the right plan for the country,” he said.",
        )
        assert found[0]["speaker"] == "Oliver Hale"

    def test_a_list_of_names_is_no_description(self) -> None:
        """ "Its director, Pia Lund, said" sets off a name; "Berg, Pia Lund and …" is a list."""
        from worker.enrich.nlp import Mention
        from worker.enrich.quotes import _set_off_subject

        described = "Its director, Pia Lund, said it was over."
        listed = "Berg, Pia Lund, Ola Nes and Kai Dahl won."
        for text, expected in ((described, True), (listed, False)):
            at = text.index("Pia Lund")
            mention = Mention("Pia Lund", "PERSON", at, at + len("Pia Lund"))
            assert _set_off_subject(text, mention) is expected

    def test_name_in_a_relative_clause_is_not_the_speaker(self, enricher: QuotesEnricher) -> None:
        """ "The veteran actor, whose films include Harry Dunn …, said" is the actor."""
        found = quotes(
            enricher,
            "Liam Corrigan will return to the stage in May after ten years away.",
            "The veteran actor, whose films include Harry Dunn and The Long Winter, said: “I "
            "have missed the theatre every single day.”",
        )
        assert found[0]["speaker"] == "Liam Corrigan"

    def test_person_before_organisation_in_the_subject(self) -> None:
        """ "Halden producer Jeff Marr told" is Jeff Marr, even where the model took "Halden
        Studios" for a person and "Halden" would be its short form."""
        from worker.enrich.nlp import Analysis, Mention, SpeechVerb
        from worker.enrich.quotes import attribute

        text = "Halden Studios won. “We loved it so much,” Halden producer Jeff Marr told us."
        quote = text.index("“")
        subject = text.index("Halden producer")
        verb = text.index("told")
        analysis = Analysis(
            text=text,
            paragraphs=((0, len(text)),),
            mentions=(
                Mention("Halden Studios", "PERSON", 0, 14, main_subject=True),
                Mention("Halden", "ORG", subject, subject + 6),
                Mention("Jeff Marr", "PERSON", verb - 10, verb - 1),
            ),
            speech=(
                SpeechVerb(
                    verb, verb + 4, 20, len(text), subject, verb - 1, "Halden producer Jeff Marr"
                ),
            ),
        )
        people = {"Halden Studios": "Halden Studios", "Jeff Marr": "Jeff Marr"}
        assert attribute(analysis, quote, quote + 22, people) == "Jeff Marr"


class TestOrganisationsAndDescriptions:
    def test_spokesman_of_an_organisation(self, enricher: QuotesEnricher) -> None:
        """An unnamed spokesman speaks for the organisation: "a spokesman for the Harbour Rail
        Trust said" is the Harbour Rail Trust, not the whole phrase."""
        found = quotes(
            enricher,
            "“The line will reopen on Monday morning,” a spokesman for the Harbour Rail Trust "
            "said.",
        )
        assert found[0]["speaker"] == "Harbour Rail Trust"

    def test_it_said_is_the_organisation(self, enricher: QuotesEnricher) -> None:
        """ "it said in a statement" after "Brenmoor Logistics said …" is Brenmoor Logistics."""
        found = quotes(
            enricher,
            "Brenmoor Logistics said on Friday that it would close two depots. “We have no other "
            "choice this winter,” it said in a statement.",
        )
        assert found[0]["speaker"] == "Brenmoor Logistics"

    def test_place_before_the_head_describes_someone(self, enricher: QuotesEnricher) -> None:
        """ "the Galway woman said" is the woman the text is about, not Galway; "the
        Dublin-based company said" names nobody."""
        found = quotes(
            enricher,
            "Aoife Dunne won the national title on Sunday.",
            "“I still cannot believe it happened to me,” the Galway woman said.",
            "“We will hire forty people next year,” the Dublin-based company said.",
        )
        assert [q["speaker"] for q in found] == ["Aoife Dunne", None]

    def test_compound_before_the_head_describes_someone(self, enricher: QuotesEnricher) -> None:
        """ "the Oscar-winning actress said" is Helen Marsh, not "Oscar"."""
        found = quotes(
            enricher,
            "Helen Marsh will star in the new play at the Gate in March.",
            "“It is the part I have wanted to play all my life,” the Oscar-winning actress said.",
        )
        assert found[0]["speaker"] == "Helen Marsh"

    def test_short_form_of_an_organisation(self) -> None:
        """ "Dunmore said" where the article names "Dunmore Energy" is the company's full name,
        even where the model also took "Dunmore" for a person elsewhere."""
        from worker.enrich.nlp import Analysis, Mention, SpeechVerb
        from worker.enrich.quotes import attribute

        text = "Dunmore Energy cut jobs. Dunmore said the year was “hard but not hopeless”."
        subject = text.index("Dunmore said")
        verb = subject + len("Dunmore ")
        quote = text.index("“")
        analysis = Analysis(
            text=text,
            paragraphs=((0, len(text)),),
            mentions=(
                Mention("Dunmore Energy", "ORG", 0, 14, main_subject=True),
                Mention("Dunmore", "ORG", subject, subject + 7, main_subject=True),
            ),
            speech=(
                SpeechVerb(verb, verb + 4, subject, len(text), subject, subject + 7, "Dunmore"),
            ),
        )
        people = {"Dunmore": "Dunmore"}
        assert attribute(analysis, quote, len(text) - 1, people) == "Dunmore Energy"


class TestUnnamedSpokespeople:
    def test_the_spokesman_is_the_one_named_before(self, enricher: QuotesEnricher) -> None:
        """ "The spokesman said" after "A spokesman for the Harbour Rail Trust said" speaks for
        the trust; with no organisation named, nobody is."""
        found = quotes(
            enricher,
            "Rail minister Joan Pike visited the depot on Monday.",
            "A spokesman for the Harbour Rail Trust said the line would reopen. “The repairs "
            "took longer than we planned,” the spokesman said.",
            "“We will publish a full report,” the official said.",
        )
        assert [q["speaker"] for q in found] == ["Harbour Rail Trust", None]

    def test_she_after_an_unnamed_spokeswoman(self, enricher: QuotesEnricher) -> None:
        """ "A council spokeswoman said … She said:" is not Joan Pike, named before her."""
        found = quotes(
            enricher,
            "Rail minister Joan Pike visited the depot on Monday. A council spokeswoman said "
            "the road would stay shut. She said: “We cannot open it before the spring.”",
        )
        assert found[0]["speaker"] is None


class TestOwnersInTheSubject:
    def test_name_after_its_owner_in_the_subject(self, enricher: QuotesEnricher) -> None:
        """ "said Coastline Networks' Sophie Turner Laing": the name after the owner, also where
        the model found no person in it."""
        found = quotes(
            enricher,
            "“We are proud to bring the awards to our viewers,” said Coastline Networks' Sophie "
            "Turner Laing.",
        )
        assert found[0]["speaker"] == "Sophie Turner Laing"


class TestRolesBeforeNames:
    def test_a_name_qualifying_a_title_is_not_the_speaker(self, enricher: QuotesEnricher) -> None:
        """ "Lib Dem spokesman Mark Oaten" is Mark Oaten, even where the model took "Lib Dem"
        for a person too: a name followed by a lower-case word qualifies the title."""
        found = quotes(
            enricher,
            "“We will keep every store open this year,” said Lib Dem spokesman Mark Oaten.",
        )
        assert found[0]["speaker"] == "Mark Oaten"

    def test_name_after_a_role_word(self) -> None:
        """The capitalised words after a lower-case role word name someone when they begin
        with a given name and are no place of the article."""
        from worker.enrich.nlp import Analysis, Mention
        from worker.enrich.quotes import _Article, _name_after_role

        text = "Yukos chief executive Steven Theede spoke in San Francisco."
        place = text.index("San Francisco")
        analysis = Analysis(
            text, ((0, len(text)),), (Mention("San Francisco", "GPE", place, place + 13),), ()
        )
        article = _Article(analysis, analysis.mentions, {})
        assert _name_after_role("Yukos chief executive Steven Theede", article) == "Steven Theede"
        assert _name_after_role("the mayor of San Francisco", article) is None
        assert _name_after_role("the chief executive", article) is None

    def test_a_quote_does_not_make_its_speaker_subordinate(self, enricher: QuotesEnricher) -> None:
        """ "“… if the council …,” said the chair …, Nora Bright" is a main clause: the "if" is
        the quote's, so "she" in the next paragraph is Nora Bright."""
        found = quotes(
            enricher,
            "Novelist Kate Rowe opened the book festival in the town hall on Friday.",
            "“It will be a tragedy if the council closes the library,” said the chair of the "
            "housing committee, councillor Nora Bright.",
            "Her main worry was the cost. “Families cannot pay this much,” she wrote.",
        )
        assert [q["speaker"] for q in found] == ["Nora Bright", "Nora Bright"]
