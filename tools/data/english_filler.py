"""English-like haystack text: random sentences from a small grammar and word lists.

Standard library only, ASCII only, deterministic for a given random.Random. The sentences are
grammatical nonsense on purpose ("The quiet miller carried a copper kettle across the bridge."):
varied enough that a model cannot memorise the haystack, and free of the phrases the task
needles use ("pass key", "value of key", "VAR", "Document", the fact templates of mdqa).
"""

import random

NOUNS = """
apple anchor apron arrow attic baker barn basket beacon bell bench blanket boat bottle bridge
brook bucket cabin candle canoe canyon captain carpet carriage castle cellar chapel cherry
chimney clock cloud coat comet cottage courtyard crate creek crown cup curtain desert doctor
doorway dragon drum eagle engine feather fence ferry field fiddle fisherman flag flute forest
fountain fox garden gate glacier goat harbor hammer harp hat hawk hedge helmet hill hive horse
island jar kettle kitchen knight ladder lake lantern lighthouse lion market meadow merchant mill
miller mirror monk mountain needle nest ocean orchard owl oven painter palace parrot pebble
pilgrim pillow pine pond potter puppet quarry rabbit raft railway river robe rope saddle sailor
scholar shadow shepherd ship shovel shrine singer sled soldier spider spoon stable statue
stone storm stove sparrow teacher tent thread tower traveler tree trumpet tunnel valley village
violin wagon wall weaver well whale wheel willow window wolf workshop""".split()

ADJECTIVES = """
ancient bitter blue brave bright broken busy calm careful cheerful clever cold copper crooked
curious damp dark distant dusty eager early elegant empty faded famous fierce fragile friendly
gentle gloomy golden graceful green grey hidden hollow honest humble icy idle kind large lazy
little lonely loud lucky modest narrow nervous noble old pale patient polite proud quick quiet
rapid restless rough rusty sharp shy silent silver sleepy slow small smooth soft solemn stern
stormy strange sturdy sudden sweet tall tidy tired tiny wandering warm weary wet wild wise
wooden young""".split()

TRANSITIVE_VERBS = """
admired borrowed built carried carved chased cleaned collected covered crossed delivered
discovered dragged drew examined filled fixed followed found gathered guarded hid lifted
measured mended moved noticed opened painted polished pulled pushed questioned repaired
sold sorted studied traded watched washed wrapped""".split()

INTRANSITIVE_VERBS = """
arrived danced drifted hesitated hurried laughed lingered marched paused rested sang slept
smiled sighed stumbled travelled waited walked wandered whistled worked""".split()

ADVERBS = """
briefly calmly carefully eagerly gently gladly happily loudly patiently politely quickly
quietly rarely slowly softly steadily suddenly warmly wearily wisely""".split()

PREPOSITIONS = """
above across against along among around behind below beneath beside between beyond inside
near past through toward under within""".split()

TIMES = """
at dawn|at dusk|before sunrise|after supper|during the winter|in the spring|by midnight|
on a rainy morning|late in the autumn|early in the summer|after the harvest|before the festival|
on the first day|at the end of the week|during the long night|after the storm""".split("|")
TIMES = [t.strip() for t in TIMES]

OPENERS = """
Meanwhile|Later|Even so|For a while|At first|In the end|Once again|Without a word|
As usual|Before long|After a moment|By then|Now and then|Long ago""".split("|")
OPENERS = [t.strip() for t in OPENERS]

PRONOUNS = ["she", "he", "they", "we", "nobody", "everyone"]
POSSESSIVES = ["her", "his", "their", "our", "its"]
DETERMINERS = ["the", "the", "a", "every", "one", "that", "this"]
COUNT_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
               "several", "many", "a few", "a dozen"]
LINKERS = ["because", "while", "although", "until", "after", "before", "since"]


def plural(noun):
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    if noun == "fisherman":
        return "fishermen"
    return noun + "s"


class FillerGenerator:
    """Random sentences; every method takes its randomness from the given random.Random."""

    def __init__(self, rng):
        self.rng = rng

    def _noun_phrase(self):
        r = self.rng
        kind = r.random()
        noun = r.choice(NOUNS)
        if kind < 0.45:
            adj = r.choice(ADJECTIVES) + " " if r.random() < 0.6 else ""
            det = r.choice(DETERMINERS)
            if det == "a" and (adj or noun)[0] in "aeiou":
                det = "an"
            return f"{det} {adj}{noun}"
        if kind < 0.65:
            return f"{r.choice(POSSESSIVES)} {noun}"
        if kind < 0.85:
            adj = r.choice(ADJECTIVES) + " " if r.random() < 0.5 else ""
            return f"the {adj}{plural(noun)}"
        if kind < 0.95:
            return f"{r.choice(COUNT_WORDS)} {plural(noun)}"
        return f"{r.randint(2, 99)} {plural(noun)}"

    def _subject(self):
        if self.rng.random() < 0.2:
            return self.rng.choice(PRONOUNS)
        return self._noun_phrase()

    def _place(self):
        return f"{self.rng.choice(PREPOSITIONS)} {self._noun_phrase()}"

    def _clause(self):
        r = self.rng
        if r.random() < 0.65:
            text = f"{self._subject()} {r.choice(TRANSITIVE_VERBS)} {self._noun_phrase()}"
        else:
            text = f"{self._subject()} {r.choice(INTRANSITIVE_VERBS)}"
            if r.random() < 0.4:
                text += " " + r.choice(ADVERBS)
        if r.random() < 0.5:
            text += " " + self._place()
        return text

    def sentence(self):
        r = self.rng
        shape = r.random()
        if shape < 0.35:
            text = self._clause()
        elif shape < 0.50:
            text = f"{r.choice(OPENERS)}, {self._clause()}"
        elif shape < 0.65:
            text = f"{self._clause()} {r.choice(LINKERS)} {self._clause()}"
        elif shape < 0.75:
            text = f"{r.choice(TIMES)}, {self._clause()}"
        elif shape < 0.83:
            a, b = r.sample(ADJECTIVES, 2)
            text = f"{self._noun_phrase()} seemed {a} and {b}"
        elif shape < 0.90:
            text = f"there were {r.choice(COUNT_WORDS)} {plural(r.choice(NOUNS))} {self._place()}"
        elif shape < 0.95:
            text = f"in {r.randint(1100, 1999)} {self._clause()}"
        else:
            text = f"{self._subject()} said that {self._clause()}"
        return text[0].upper() + text[1:] + "."

    def sentences(self, n):
        return [self.sentence() for _ in range(n)]
