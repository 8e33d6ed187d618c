"""Offline rule-based WebVid-Motion extractor: caption -> {"objects": [...], "motion": "short phrase"}.

    >>> extract_motion("A dog is running on the beach")
    MotionPhrase(objects=['dog'], motion='run')
    >>> extract_motion("Old man turning his head to the left").motion
    'turn head left'

The fallback of `python -m fyc captions` when no LLM endpoint is set, and what the datasets use for a
video the captions JSONL does not cover. No tagger model is needed: lemminflect (which installs with its
data from PyPI) says which parts of speech a word can take and gives verb lemmas; a few rules written for
the shape of stock-video captions ("Subject verb-ing object preposition place, filler") do the rest.

Output convention (the one of `motion_examples.json` and the hand-labelled test set):
    motion: lemma of each action verb the caption states, in order, joined by " and "; each keeps its
    particle or bare direction (up, down, away, left, ...), "towards camera" / "at camera", and its direct
    object's head noun as written ("wave hand", "blow out candles"); places and instruments in
    prepositional phrases are dropped. A caption that states no action gives "" and no objects.
    objects: head nouns of the verbs' subjects, as written.
Measured precision/recall: docs/results/captions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lemminflect import getAllLemmas, getLemma

DETERMINERS = frozenset(
    "a an the this that these those some many several few each every any another his her its their my your our "
    "one two three four five six seven eight nine ten".split()
)
PREPOSITIONS = frozenset(
    "on in at over under into onto through across along from with against near by of for to towards toward "
    "around behind between above below beneath during after before while inside outside past underneath beside "
    "among within without like about via upon amid beyond throughout until as".split()
)
AUXILIARIES = frozenset(
    "is are was were be been being am 's has have had does do did can will would could should may might must".split()
)
# "start to dance", "begins running": the second verb is the action
ASPECT_VERBS = frozenset("start begin continue keep try stop finish".split())
# bare directions and particles kept after a verb ("walk away", "look up", "turn around")
DIRECTIONS = frozenset(
    "up down away back around left right forward forwards backward backwards sideways upward upwards downward "
    "downwards off out".split()
)
# prepositions that are particles only for these verbs ("put on makeup", "zoom in")
PHRASAL_PARTICLES = {
    "on": frozenset("put turn try switch pull carry".split()),
    "in": frozenset("zoom come walk run fly move step jump".split()),
    "over": frozenset("turn roll fall flip tip knock".split()),
}
# particles that take a direct object ("pick up the phone"); after other directions a noun phrase is
# the direction's own object ("ride down the hill") and is dropped
TRANSITIVE_PHRASALS = frozenset(
    tuple(p.split("+"))
    for p in "pick+up put+on put+down take+off take+out blow+out turn+on turn+off switch+on switch+off throw+away "
    "put+away try+on lift+up hold+up wipe+off pull+out roll+up fill+up clean+up set+up open+up cut+off "
    "knock+over turn+over flip+over give+up".split()
)
# words after the verb that say how, not what: skipped when looking for the object
MANNER_ADVERBS = frozenset(
    "fast slowly quickly together again hard very too gently softly calmly happily quietly loudly slightly "
    "deeply high low far closer close still all alone".split()
)
# -ing words that are nouns, not actions, in stock captions
ING_NOUNS = frozenset(
    "building buildings ceiling evening morning clothing wedding thing things ring king spring string wing "
    "sibling pudding something anything nothing everything painting paintings meeting lightning".split()
)
SUBORDINATORS = frozenset("while when because after before although whereas".split())
IDIOMS = {"hand in hand": "", "back and forth": "back-and-forth", "side to side": "side-to-side"}
CAMERA_PREPOSITIONS = frozenset({"at", "into", "to", "towards", "toward"})
# shot descriptions that are not content; removed before parsing
FILLER = re.compile(
    r"\b(?:(?:in\s+)?slow[- ]?motion|time[- ]?lapse|hyper[- ]?lapse|close[- ]?up|extreme close[- ]?up|"
    r"(?:aerial|drone|top|side|front|overhead|wide|medium|tracking)\s+(?:drone\s+)?(?:view|shot|footage|video)|"
    r"aerial|stock footage|stock video|footage|video clip|\d+k|uhd|full hd|hd|4k|portrait)\b(?:\s+of\b)?",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[a-z]+(?:[-'][a-z]+)*|[,.;:!?]")


@dataclass
class MotionPhrase:
    """Objects that move and a short motion phrase ("" when the caption states no action)."""

    objects: list[str] = field(default_factory=list)
    motion: str = ""

    def to_dict(self) -> dict:
        return {"objects": list(self.objects), "motion": self.motion}


def _pos(word: str) -> dict:
    return getAllLemmas(word) if word.isalpha() else {}


def _can_be(word: str, upos: str) -> bool:
    return upos in _pos(word)


def _is_noun_like(word: str) -> bool:
    if word in DETERMINERS or word in PREPOSITIONS or word in AUXILIARIES or word == "and":
        return False
    pos = _pos(word)
    return "NOUN" in pos or "PROPN" in pos or not pos  # unknown words are mostly names of things


def _lemma(word: str) -> str:
    lemmas = getLemma(word, upos="VERB")
    return lemmas[0] if lemmas else word


def _is_ing_verb(tokens: list[str], i: int) -> bool:
    word = tokens[i]
    if not word.endswith("ing") or word in ING_NOUNS or not _can_be(word, "VERB"):
        return False
    prev = tokens[i - 1] if i > 0 else ""
    # "a running track", "the swimming pool": a modifier inside a noun phrase
    return prev not in DETERMINERS and prev not in ("of",) or prev in AUXILIARIES


def _is_finite_verb(tokens: list[str], i: int) -> bool:
    """A present-tense verb after its subject ("Woman waves her hand", "Man looks up")."""
    word = tokens[i]
    if i == 0 or word in DETERMINERS or word in PREPOSITIONS or word in AUXILIARIES or not _can_be(word, "VERB"):
        return False
    prev = tokens[i - 1]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if prev in AUXILIARIES or prev == "to":
        return True
    if not word.endswith("s") or word.endswith("ss") or not _is_noun_like(prev):
        return False
    # a verb is followed by what follows verbs; "Ocean waves" or "waves crash" are noun phrases
    return (
        nxt in DETERMINERS
        or nxt in PREPOSITIONS
        or nxt in DIRECTIONS
        or nxt in ("and", "")
        or nxt.endswith("ly")
        or nxt in MANNER_ADVERBS
        or not nxt.isalpha()
    )


def _clean(caption: str) -> list[list[str]]:
    """Lower-cased tokens per clause, fillers removed and idioms joined."""
    text = FILLER.sub(" ", caption.lower().replace("’", "'"))
    for idiom, joined in IDIOMS.items():
        text = re.sub(rf"\b{idiom}\b", f" {joined} ", text)
    clauses, current = [], []
    for token in _TOKEN.findall(text):
        if token in ",.;:!?":
            if current:
                clauses.append(current)
            current = []
        else:
            current.append(token)
    if current:
        clauses.append(current)
    return clauses


def _subject(tokens: list[str], verb: int) -> list[str]:
    """Head nouns of the noun phrase before the verb ("Man and woman dancing" -> man, woman)."""
    j = verb - 1
    while j >= 0 and (tokens[j] in AUXILIARIES or tokens[j] in ("who", "that", "which")):
        j -= 1
    span_start = j
    while span_start > 0 and tokens[span_start - 1] not in PREPOSITIONS - {"with"} and tokens[span_start - 1] != "of":
        span_start -= 1
    span = tokens[span_start : j + 1]
    if "with" in span:  # "woman with long hair posing": the subject is before "with"
        span = span[: span.index("with")]
    heads, group = [], []
    for word in span + ["and"]:
        if word == "and":
            nouns = [w for w in group if _is_noun_like(w)]
            if nouns:
                heads.append(nouns[-1])
            group = []
        else:
            group.append(word)
    return heads


def _verb_phrase(tokens: list[str], v: int, finite: bool) -> tuple[list[str], int]:
    """(words of the phrase, index after it) for the verb at `v`."""
    lemma = _lemma(tokens[v])
    n = len(tokens)
    j = v + 1
    # aspect verbs: "starts to dance", "begins running"
    if lemma in ASPECT_VERBS:
        k = j + 1 if j < n and tokens[j] == "to" else j
        if k < n and _can_be(tokens[k], "VERB") and tokens[k] not in DETERMINERS:
            return _verb_phrase(tokens, k, finite)
    phrase = [lemma]

    def skip_adverbs(k):
        while k < n and (tokens[k].endswith("ly") or tokens[k] in MANNER_ADVERBS) and tokens[k] not in DIRECTIONS:
            k += 1
        return k

    def direction(k):
        """A direction at k: (words, next index) or ([], k)."""
        if k >= n:
            return [], k
        word = tokens[k]
        if word in ("back-and-forth", "side-to-side"):
            return word.replace("-", " ").split(), k + 1
        if word in DIRECTIONS and not (word in ("left", "right") and k + 1 < n and _is_noun_like(tokens[k + 1])):
            return [word], k + 1
        if word in PHRASAL_PARTICLES and lemma in PHRASAL_PARTICLES[word]:
            follow = tokens[k + 1] if k + 1 < n else ""
            if word != "in" or follow in PREPOSITIONS or follow in ("", "and"):
                return [word], k + 1
        if word in CAMERA_PREPOSITIONS:
            k2 = k + 1
            while k2 < n and tokens[k2] in DETERMINERS:
                k2 += 1
            if k2 < n and tokens[k2] == "camera":
                return (["towards", "camera"] if word.startswith("toward") else ["at", "camera"]), k2 + 1
            if word == "to" and k2 < n and tokens[k2] in ("left", "right"):
                return [tokens[k2]], k2 + 1
        return [], k

    j = skip_adverbs(j)
    words, j = direction(j)
    phrase += words
    if words and (lemma, words[0]) not in TRANSITIVE_PHRASALS:
        return phrase, j
    # direct object: determiners, modifiers, head noun; stops at prepositions, "and", verbs
    k = j
    while k < n and tokens[k] in DETERMINERS:
        k += 1
    start = k
    while (
        k < n
        and tokens[k] not in PREPOSITIONS
        and tokens[k] not in DIRECTIONS
        and tokens[k] not in AUXILIARIES
        and tokens[k] != "and"
        and tokens[k] not in IDIOMS.values()
        and not tokens[k].endswith("ly")
        and tokens[k] not in MANNER_ADVERBS
        and not (k > start and _is_ing_verb(tokens, k))
        and not (
            k == start == j and tokens[k].endswith("ing") and _can_be(tokens[k], "VERB") and tokens[k] not in ING_NOUNS
        )
    ):  # after a determiner an -ing word is a modifier
        k += 1
    nouns = [w for w in tokens[start:k] if _is_noun_like(w)]
    if nouns and (k > start):
        phrase.append(nouns[-1])
        j = k
        j = skip_adverbs(j)
        words, j = direction(j)
        phrase += words
    elif not words:
        words, j = direction(skip_adverbs(j))
        phrase += words
    return phrase, j


def _find_verbs(tokens: list[str]) -> tuple[list[int], bool]:
    ing = [i for i in range(len(tokens)) if _is_ing_verb(tokens, i)]
    if ing:
        return ing, False
    return [i for i in range(len(tokens)) if _is_finite_verb(tokens, i)], True


def extract_motion(caption: str) -> MotionPhrase:
    """Objects and short motion phrase of one caption, by rules (see the module docstring)."""
    for tokens in _clean(caption or ""):
        verbs, finite = _find_verbs(tokens)
        if not verbs:
            continue
        main = verbs[0]
        objects = _subject(tokens, main)
        if not objects and main == 0 and len(tokens) > 1 and _is_noun_like(tokens[1]):
            # "Spinning globe on a black background": a participle in front of its noun
            k = 1
            while k + 1 < len(tokens) and _is_noun_like(tokens[k + 1]) and tokens[k + 1] not in PREPOSITIONS:
                k += 1
            return MotionPhrase([tokens[k]], _lemma(tokens[0]))
        phrases, end = [], main
        phrase, end = _verb_phrase(tokens, main, finite)
        phrases.append(" ".join(phrase))
        # coordinated actions: "... and reading a newspaper", "turns around and smiles"
        k = end
        while k < len(tokens):
            if tokens[k] in ("and", "then") and k + 1 < len(tokens):
                nxt = k + 1
                while nxt < len(tokens) and tokens[nxt].endswith("ly"):
                    nxt += 1
                if nxt < len(tokens) and (
                    _is_ing_verb(tokens, nxt)
                    if not finite
                    else (_can_be(tokens[nxt], "VERB") and tokens[nxt].endswith("s"))
                ):
                    phrase, k = _verb_phrase(tokens, nxt, finite)
                    phrases.append(" ".join(phrase))
                    continue
            if tokens[k] in SUBORDINATORS:
                break  # a subordinate clause: its actions are not the caption's main motion
            k += 1
        return MotionPhrase(objects, " and ".join(p for p in phrases if p))
    return MotionPhrase([], "")


def _phrase_tokens(motion: str) -> list[str]:
    motion = motion.lower()
    for idiom, joined in IDIOMS.items():
        motion = motion.replace(idiom, joined)
    return [t for t in motion.split() if t != "and"]


def _verbs(motion: str) -> list[str]:
    motion = motion.lower()
    for idiom, joined in IDIOMS.items():
        motion = motion.replace(idiom, joined)
    return [p.split()[0] for p in motion.split(" and ") if p.strip()]


def _overlap(pred: list[str], gold: list[str]) -> int:
    remaining = list(gold)
    hits = 0
    for token in pred:
        if token in remaining:
            remaining.remove(token)
            hits += 1
    return hits


def score(records: list[dict], predictions: list[MotionPhrase]) -> dict:
    """Precision / recall of predicted motion phrases against labelled records ({"motion", "objects"}).

    Micro-averaged over the labelled set: `motion_*` counts the words of the phrase (verb lemmas,
    particles, directions, object nouns; "and" ignored), `verb_*` only each action's verb, `object_*`
    the moving objects. `exact` is the share of phrases equal to the label, `empty_accuracy` how often
    "states an action or not" is right.
    """
    totals = {k: 0 for k in ("tp", "pred", "gold", "vtp", "vpred", "vgold", "otp", "opred", "ogold", "exact", "empty")}
    for record, pred in zip(records, predictions, strict=True):
        gold_motion = record.get("motion", "")
        p, g = _phrase_tokens(pred.motion), _phrase_tokens(gold_motion)
        totals["tp"] += _overlap(p, g)
        totals["pred"] += len(p)
        totals["gold"] += len(g)
        pv, gv = _verbs(pred.motion), _verbs(gold_motion)
        totals["vtp"] += _overlap(pv, gv)
        totals["vpred"] += len(pv)
        totals["vgold"] += len(gv)
        po, go = [o.lower() for o in pred.objects], [o.lower() for o in record.get("objects", [])]
        totals["otp"] += _overlap(po, go)
        totals["opred"] += len(po)
        totals["ogold"] += len(go)
        totals["exact"] += pred.motion.strip().lower() == gold_motion.strip().lower()
        totals["empty"] += (not pred.motion.strip()) == (not gold_motion.strip())

    def ratio(a, b):
        return a / b if b else 0.0

    out = {"n": len(records)}
    for name, (tp, pred, gold) in {
        "motion": ("tp", "pred", "gold"),
        "verb": ("vtp", "vpred", "vgold"),
        "object": ("otp", "opred", "ogold"),
    }.items():
        precision, recall = ratio(totals[tp], totals[pred]), ratio(totals[tp], totals[gold])
        out[f"{name}_precision"] = precision
        out[f"{name}_recall"] = recall
        out[f"{name}_f1"] = ratio(2 * precision * recall, precision + recall)
    out["exact"] = ratio(totals["exact"], len(records))
    out["empty_accuracy"] = ratio(totals["empty"], len(records))
    return out
