"""Closed-set hearing of answers: after a yes/no question, which expected phrase was said.

Free decoding of a one-word answer goes wrong in ways that matter ("nggak" heard as "kak", "ndak"
as "Bye!"), and a yes heard as no on a danger screen is a missed danger. So after a question the
Whisper path asks the model how likely each expected phrase is for this audio (CTranslate2's
`align` gives the probability of every token of a given text) and adds the likelihoods up per
class (yes, no, unsure, each command). A class must win by a margin; otherwise the answer is
unclear and the person is asked again. A free listen on the same encoder pass tells an answer
from a sentence ("yes, and my chest hurts"), which is heard freely instead.

The scoring is split from the decision: `decide` is plain arithmetic on scores, so its rules are
unit-tested without a model.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

ANSWER = "answer"
UNCLEAR = "unclear"
FREE = "free"
"""What `decide` concludes: an expected phrase, a guess it will not make, or a sentence."""

# yes and sometimes both record the symptom as present; a margin between them protects nothing.
_SAME_EFFECT = {"sometimes": "yes"}
_OPPOSITE = {"yes": "no", "no": "yes"}


@dataclass(frozen=True)
class Choice:
    outcome: str
    """ANSWER, UNCLEAR or FREE."""

    phrase: str = ""
    """The expected phrase heard (ANSWER), in the canonical form the dialogue reads."""

    kind: str = ""
    """Its class: yes, no, unsure, sometimes or a command name."""

    share: float = 0.0
    """The winning class's share of the likelihood of all classes (0..1)."""

    free_text: str = ""
    """What a free listen of the same audio heard (kept for the log and for FREE)."""


@dataclass(frozen=True)
class Rules:
    """The thresholds of the decision, from the [recognition] section of voices/<lang>.toml."""

    share: float = 0.8
    """Yes must hold at least this share of the likelihood of yes and no together (and no of the
    same): the margin that keeps a yes from being heard as a no."""

    overall: float = 0.8
    """Yes or no must hold at least this share of the likelihood of all classes (a command must
    hold `share` of it)."""

    floor: float = -4.0
    """Mean log-probability per token below which even the best phrase does not fit the audio."""

    extra_words: int = 2
    """A free listen with this many more words than the best phrase is a sentence, not an answer."""

    no_fit: float | None = None
    """After a danger screen's question, the mean log-probability per token a no's own best phrase
    must reach (None: no such check). A no heard by mistake there denies a danger sign, while a yes
    by mistake only warns too much, so only a no is held to it: no can win on shares while none of
    its phrases reads the audio well (a "ya" in babble scored as "tidak" at -4.1 a token; a plain
    "tidak" scores -2 to -3.6)."""

    no_share: float | None = None
    """After a danger screen's question, the share of the likelihood of all classes a no must hold
    (None: `overall`, as for a yes). Espeak-ng's "ya" in pink noise won as "tidak" with 0.87 of it
    on processors without AVX-512 (the rounding of their int8 arithmetic moves such close calls),
    while every "tidak", "nggak" and "belum" heard as a no held 0.93 or more."""


def classes_of(phrases: list[str], language: str) -> dict[str, str]:
    """Each phrase of the yes/no listening set with its class, as the dialogue would read it."""
    return dict(_classes(tuple(phrases), language))


@lru_cache(maxsize=16)
def _classes(phrases: tuple[str, ...], language: str) -> tuple[tuple[str, str], ...]:
    from assistant.knowledge import load_knowledge
    from assistant.matching import match_answer, match_command

    pack = load_knowledge().pack(language)
    found = ((phrase, match_command(phrase, pack) or match_answer(phrase, pack)) for phrase in phrases)
    return tuple((phrase, kind) for phrase, kind in found if kind)


def spoken_forms(spelling: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Canonical word -> the everyday words the language's spelling table folds onto it
    ("tidak" -> "nggak", "gak", "ndak" ...): a person says those, not the canonical word. Only
    single words with a vowel: "tdk" is typed, never said."""
    forms: dict[str, list[str]] = {}
    for said, canonical in spelling.items():
        if said.isalpha() and " " not in canonical and any(vowel in said for vowel in "aeiou"):
            forms.setdefault(canonical, []).append(said)
    return {word: tuple(said) for word, said in forms.items()}


def spellings(phrase: str, written: dict[str, str], spoken: dict[str, tuple[str, ...]] | None = None,
              limit: int = 24) -> list[str]:
    """The ways Whisper may write a canonical phrase: as it is, and with one word at a time in an
    everyday form the person may have said ("tidak juga" -> "nggak juga"); each respelt as
    written (dont -> don't), capitalised, with and without a full stop ("I don't think so.")."""
    words = phrase.split()
    if not words:
        return []
    variants = [words]
    for index, word in enumerate(words):
        for other in (spoken or {}).get(word, ()):
            variants.append(words[:index] + [other] + words[index + 1 :])
    texts = []
    for variant in variants[:limit]:
        text = " ".join(written.get(word, word) for word in variant)
        text = text[0].upper() + text[1:]
        texts += [text, text + "."]
    return texts


def decide(scores: dict[str, list[tuple[str, float, int]]], free_text: str, rules: Rules) -> Choice:
    """The answer given the scores: class -> [(phrase, total log-probability, tokens)].

    Likelihoods are summed per class (every spelling of every phrase of it), so a class is not
    beaten because its probability is spread over "Yes", "Yes." and "Yeah".
    """
    best: tuple[float, str, str, int] | None = None
    totals: dict[str, float] = {}
    for kind, scored in scores.items():
        for phrase, logprob, tokens in scored:
            effect = _SAME_EFFECT.get(kind, kind)
            totals[effect] = _logaddexp(totals.get(effect, -math.inf), logprob)
            if best is None or logprob > best[0]:
                best = (logprob, phrase, kind, tokens)
    if best is None:
        return Choice(FREE, free_text=free_text)
    logprob, phrase, kind, tokens = best
    # How well the best-fitting phrase reads the audio, per token (long phrases are not penalised).
    fit_logprob, fit_phrase, fit_tokens = max(
        ((lp, p, n) for scored in scores.values() for p, lp, n in scored), key=lambda item: item[0] / max(1, item[2]))
    fit = fit_logprob / max(1, fit_tokens)
    if len(free_text.split()) >= len(fit_phrase.split()) + rules.extra_words:
        # More was said than an answer. Even when an answer phrase reads the audio better per token,
        # the sentence is heard freely: "my chest hurts when I walk" once scored best as "I am".
        return Choice(FREE, free_text=free_text)
    if fit < rules.floor:
        return Choice(FREE, free_text=free_text)
    winner = max(totals, key=totals.get)
    if _SAME_EFFECT.get(kind, kind) != winner:
        # The likeliest phrase is not of the likeliest class: report the class's own best phrase.
        phrase, kind = max(((p, k) for k, scored in scores.items() if _SAME_EFFECT.get(k, k) == winner
                            for p, _, _ in scored), key=lambda item: _best_of(scores, *item))
    share = 1.0 / sum(math.exp(value - totals[winner]) for value in totals.values())
    if winner == "no" and rules.no_fit is not None:
        own_fit = max(lp / max(1, n) for _, lp, n in scores.get("no", []))
        if own_fit < rules.no_fit:
            return Choice(UNCLEAR, phrase, kind, share, free_text)
    needed = rules.overall if winner in _OPPOSITE else rules.share
    if winner == "no" and rules.no_share is not None:
        needed = max(needed, rules.no_share)
    if share < needed:
        # A command heard by mistake can end the conversation before the danger questions.
        return Choice(UNCLEAR, phrase, kind, share, free_text)
    opposite = _OPPOSITE.get(winner)
    if opposite is not None:
        # The margin that matters most: a yes heard as a no (or the reverse) misses or invents a
        # symptom on a danger screen, so yes must beat no by far, whatever else was likely.
        against = totals.get(opposite, -math.inf)
        if 1.0 / (1.0 + math.exp(against - totals[winner])) < rules.share:
            return Choice(UNCLEAR, phrase, kind, share, free_text)
    return Choice(ANSWER, phrase, kind, share, free_text)


def _best_of(scores, phrase: str, kind: str) -> float:
    return max(lp for p, lp, _ in scores[kind] if p == phrase)


def _logaddexp(a: float, b: float) -> float:
    return float(np.logaddexp(a, b))


# ---- scoring with the model ------------------------------------------------------------------

_CHUNK = 3000
"""Mel frames of Whisper's 30 s window."""
_MEMORY_MARGIN = 150
"""Encoder frames (20 ms each) kept after the audio when phrases are scored: the decoder then
attends to the speech and 3 s of the padding after it instead of all 30 s, which makes scoring
a short answer about six times cheaper. With only 1 s kept, espeak-ng's "nggak" scored as "ya"
(the model expects the padding it was trained with); from 3 s on it scores as with all 30 s."""
_FIRST_TOKEN_SPAN = 12.0
"""Phrases whose first token is this many nats less likely than the likeliest first token are
not scored further (their likelihood is negligible next to the others)."""
_LIKENESS = 1.0
"""Nats of first-token likelihood worth as much as a phrase that reads exactly like the free listen."""
_WORD_COST = 2.0
_PER_CLASS = {"yes": 5, "no": 5, "": 2}
_MAX_SCORED = 48
_BATCH = 16


@lru_cache(maxsize=8)
def _tokenizer(model, language: str):
    from faster_whisper.tokenizer import Tokenizer

    multilingual = bool(model.model.is_multilingual)
    return Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language if multilingual else None)


def score(model, audio: np.ndarray, classes: dict[str, str], written: dict[str, str], language: str,
          spoken: dict[str, tuple[str, ...]] | None = None) -> tuple[dict[str, list[tuple[str, float, int]]], str]:
    """(class -> [(phrase, log-probability, tokens)], free text) for 16 kHz float audio.

    One encoder pass serves the free listen and every phrase.
    """
    import ctranslate2
    tokenizer = _tokenizer(model, language)
    features = model.feature_extractor(audio)[:, :_CHUNK]
    frames = features.shape[1]
    padded = np.zeros((features.shape[0], _CHUNK), dtype=np.float32)
    padded[:, :frames] = features
    timer = time.perf_counter()
    encoded = model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=True)
    start = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    free = model.model.generate(encoded, [start], beam_size=1, max_length=64, return_logits_vocab=True)[0]
    free_text = tokenizer.decode([t for t in free.sequences_ids[0] if t < tokenizer.eot]).strip()
    log.debug("closed set: encoded and listened freely in %.2f s", time.perf_counter() - timer)
    first = _log_softmax(np.array(free.logits[0], dtype=np.float64).reshape(-1)[: _vocabulary(model)])

    candidates = []
    for phrase, kind in classes.items():
        for text in spellings(phrase, written, spoken):
            for tokens in _token_ways(model, language, " " + text):
                candidates.append((first[tokens[0]], phrase, kind, tokens, text.lower()))
    kept = _shortlist(candidates, free_text.lower())
    memory = np.array(encoded)[:, : min(_CHUNK // 2, frames // 2 + _MEMORY_MARGIN)]
    scores: dict[str, list[tuple[str, float, int]]] = {}
    for offset in range(0, len(kept), _BATCH):
        batch = kept[offset : offset + _BATCH]
        repeated = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(memory, len(batch), axis=0)))
        results = model.model.align(repeated, start, [list(c[3]) for c in batch], max(1, min(frames // 2, memory.shape[1])))
        for (_, phrase, kind, tokens, _), result in zip(batch, results):
            probabilities = np.maximum(np.array(result.text_token_probs, dtype=np.float64), 1e-12)
            scores.setdefault(kind, []).append((phrase, float(np.log(probabilities).sum()), len(tokens)))
    log.debug("closed set: %d of %d spellings scored in %.2f s", len(kept), len(candidates), time.perf_counter() - timer)
    return scores, free_text


# GPT-2's pre-tokenizer: contractions, words with their leading space, runs of other symbols.
_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+")


_BARE_SPACE = 220
"""The id of a lone space token, the sign of a merge missing from tokenizer.json."""


@lru_cache(maxsize=4)
def _vocabulary_of(model) -> dict[str, int]:
    return model.hf_tokenizer.get_vocab()


@lru_cache(maxsize=20_000)
def _token_ways(model, language: str, text: str) -> tuple[tuple[int, ...], ...]:
    """The token ids of a text as Whisper would write it.

    The tokenizer.json shipped with the model lacks some BPE merges, so it can split " think"
    into " " + "think", a sequence Whisper never writes (probability 0). The longest vocabulary
    piece at each point is what the model writes for plain words; both ways are scored when they
    differ, and summing per class absorbs the duplicate.
    """
    ways = [tuple(_tokenizer(model, language).encode(text))]
    vocabulary = _vocabulary_of(model)
    greedy: list[int] = []
    for piece in _PIECES.findall(text):
        piece = piece.replace(" ", "\u0120")
        while piece:
            for end in range(len(piece), 0, -1):
                if piece[:end] in vocabulary:
                    greedy.append(vocabulary[piece[:end]])
                    piece = piece[end:]
                    break
            else:
                return tuple(ways)
    if _BARE_SPACE in ways[0] and tuple(greedy) != ways[0]:
        ways.append(tuple(greedy))
    return tuple(ways)


def _shortlist(candidates: list, heard: str) -> list:
    """The spellings worth scoring in full, likeliest first.

    Ranked by how likely the model finds their first token, how much they read like the free
    listen, and shortness (answers are short). Every class keeps a few, yes and no the most: the
    free listen can lead the ranking astray ("nggak" heard as "di" favours "dari awal"), and a
    class never scored can never win.
    """
    from rapidfuzz import fuzz

    best_first = max(c[0] for c in candidates)
    ranked = sorted((c for c in candidates if c[0] >= best_first - _FIRST_TOKEN_SPAN),
                    key=lambda c: -(c[0] + _LIKENESS * fuzz.ratio(c[4], heard) / 100.0 - _WORD_COST * len(c[4].split())))
    # A phrase the free listen wrote word for word is always scored ("I think so." among the
    # dozens of phrases that start with " I").
    said = _words(heard)
    kept = [c for c in ranked if said and _words(c[4]) == said]
    per_class: dict[str, set[str]] = {}
    for candidate in ranked:
        if candidate in kept:
            continue
        kind, text = candidate[2], candidate[4].rstrip(".")
        texts = per_class.setdefault(kind, set())
        # A quota counts texts, not spellings: "Ya" and "Ya." come in together.
        if text in texts or len(texts) < _PER_CLASS.get(kind, _PER_CLASS[""]):
            texts.add(text)
            kept.append(candidate)
    chosen = {id(c) for c in kept}
    kept += [c for c in ranked if id(c) not in chosen][: max(0, _MAX_SCORED - len(kept))]
    return kept


def _words(text: str) -> list[str]:
    return "".join(ch if ch.isalnum() or ch in " '" else " " for ch in text.lower()).split()


def _vocabulary(model) -> int:
    return int(model.model.n_vocab) if hasattr(model.model, "n_vocab") else 51865


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - top - math.log(float(np.exp(logits - top).sum()))
