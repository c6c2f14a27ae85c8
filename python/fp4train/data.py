"""Training data: a byte tokenizer, a generated default corpus, deterministic batches.

Public
------
ByteTokenizer
    Bytes are tokens (vocabulary 256). Text is UTF-8 encoded; any byte string,
    valid UTF-8 or not, is a valid token sequence.
generate_corpus(n_bytes=4_000_000, seed=0) -> bytes
    Deterministic synthetic text of exactly ``n_bytes`` bytes (see below).
default_corpus() -> bytes
    ``generate_corpus()`` with its defaults, built once per process.
load_text(path) -> bytes
    The raw bytes of a text file (``--data FILE``); errors name argument 'data'.
is_utf8(b) -> bool
    Whether ``b`` decodes as UTF-8 (lets a CLI warn; the data is used as bytes anyway).
TokenDataset(tokens, seq_len, val_fraction=0.1)
    Train/validation split; ``train_batch(batch_size, seed, step)`` is a pure
    function of (seed, step), which makes bit-identical resume trivial;
    ``val_batches`` are fixed windows of the validation split.
LANGUAGE
    The lexicon of the generated corpus (``Language``), for tests and analysis.

The default corpus
------------------
A model being trained for FP4 numerics research needs data on which a small
model keeps improving for thousands of steps, so that recipe differences show
up as loss differences. Random text saturates at once and natural text is not
available offline, so the corpus is generated from a small invented language
whose structure has entropy at several scales:

* **Characters and words.** About 360 invented word stems built from
  consonant-vowel syllables, drawn with Zipf-Mandelbrot frequencies
  (weight 1 / (rank + 3)). Morphology is
  regular: a noun is ``stem + gender vowel`` (``a`` for gender 0, ``u`` for
  gender 1) ``+ n`` in the plural; adjectives inflect the same way; a verb is
  ``stem + tense vowel (e present, i past, o future) + agreement``, the
  agreement suffix being ``s``, ``r``, ``sen``, ``ren`` for (gender 0,
  singular), (1, sg), (0, plural), (1, pl). Determiners ``ta tu tan tun``
  (definite) and ``da du dan dun`` (demonstrative) mark the same four cells.
* **Syntax with long-range agreement.** Sentences come from a probabilistic
  grammar: ``Det Adj* Noun [relative clause] Verb [object] [Prep NP].`` The
  main verb agrees in gender and number with the subject across a relative
  clause set off by commas, which holds other nouns (agreement attractors):
  ``, wo NP Verb,`` (the verb agrees with that NP) or ``, wi Verb NP,`` (the
  verb agrees with the head noun, outside the clause).
* **Paragraph-level state.** Each paragraph fixes one tense for all its verbs
  and introduces one or two named entities (fixed gender per name) with a
  profession and a home city drawn for that paragraph: ``Tavor oles kamora po
  Zelkin.``. Every later mention of the entity in the paragraph uses the same
  city and profession, and pronouns (``se`` gender 0, ``si`` gender 1) agree
  with the last-named entity. Quoted speech pairs ``"..."``; parenthetical
  asides pair ``(...)``.
* **Arithmetic facts** in English words with digits, always true:
  ``17 plus 5 is 22.``, ``6 times 7 is 42.``, ``30 minus 8 is 22.``.
* A few names and cities carry non-ASCII letters (multi-byte UTF-8), which a
  byte-level model must learn to emit as whole sequences. Paragraphs are
  separated by a blank line.

Determinism: only ``random.Random(seed).random()`` is used, the one part of
Python's ``random`` module whose sequence is guaranteed stable across Python
versions; no hashing, no set iteration. The language itself (lexicon) is fixed
(``_LANGUAGE_SEED``); ``seed`` only changes the text. ``generate_corpus(n, s)``
is a prefix of ``generate_corpus(m, s)`` for ``n < m`` up to the last few bytes
(the end is cut at a character boundary and padded with newlines so that the
result is always valid UTF-8 of exactly ``n_bytes`` bytes).
"""
import bisect
import functools
import hashlib
import os
import random

import numpy as np

from ._checks import check_int as _check_int

__all__ = [
    "ByteTokenizer", "LANGUAGE", "Language", "TokenDataset", "default_corpus",
    "generate_corpus", "is_utf8", "load_text",
]


# -- argument checks ------------------------------------------------------------


# -- tokenizer ------------------------------------------------------------------
class ByteTokenizer:
    """Byte-level tokenizer: token id = byte value, vocabulary 256.

    Any byte string is a valid token sequence, so text that is not valid UTF-8
    (Latin-1 files, binary junk) still trains: bytes are bytes. ``decode``
    replaces byte sequences that are not UTF-8 with U+FFFD.
    """

    vocab_size = 256

    def encode(self, text):
        """Token ids of ``text`` (str is UTF-8 encoded; bytes-like are taken as is).

        Returns
        -------
        np.ndarray of uint8, one id per byte.
        """
        if isinstance(text, str):
            text = text.encode("utf-8")
        elif isinstance(text, (bytearray, memoryview)):
            text = bytes(text)
        elif not isinstance(text, bytes):
            raise TypeError(f"argument 'text': expected str or bytes, got {type(text).__name__}")
        return np.frombuffer(text, dtype=np.uint8).copy()

    def decode(self, ids):
        """Text of token ids (UTF-8, invalid sequences replaced by U+FFFD)."""
        if isinstance(ids, (bytes, bytearray)):
            return bytes(ids).decode("utf-8", errors="replace")
        arr = np.asarray(ids)
        if arr.size == 0:
            return ""
        if arr.dtype.kind not in "iu":
            raise TypeError(f"argument 'ids': expected integer token ids, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"argument 'ids': expected a 1-D sequence, got shape {arr.shape}")
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"argument 'ids': expected ids in [0, 255], got range [{lo}, {hi}]")
        return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def __repr__(self):
        return "ByteTokenizer(vocab_size=256)"


# -- the invented language ------------------------------------------------------
_LANGUAGE_SEED = 0x5EED_1A96
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "kr", "tr", "st", "gl", "pl", "sk", "h", "j")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o")
_CODAS = ("b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "lk", "nd", "rt")
_FUNCTION_WORDS = ("ta", "tu", "tan", "tun", "da", "du", "dan", "dun", "se", "si", "wo", "wi",
                   "na", "po", "ke", "plus", "times", "minus", "is")
_TENSES = ("e", "i", "o")  # present, past, future
_AGREEMENT = (("s", "sen"), ("r", "ren"))  # [gender][number]
_GENDER_VOWEL = ("a", "u")
_DETERMINERS = ((("ta", "tan"), ("tu", "tun")), (("da", "dan"), ("du", "dun")))  # [kind][g][n]
_PRONOUNS = ("se", "si")
_PREPOSITIONS = ("na", "po", "ke")
# Names and cities: a few with non-ASCII letters (multi-byte UTF-8).
_EXTRA_NAMES = (("Ælin", 1), ("Søren", 0), ("Jüna", 1), ("Ñako", 0))
_EXTRA_CITIES = ("Zelkön", "Mårvik", "Éstra")


class Language:
    """The fixed lexicon of the generated corpus.

    Attributes
    ----------
    nouns : list of (list[str] forms by number, gender)
    adjectives, intransitive, transitive : stems
    professions : stems inflected like nouns for the entity's gender
    names : list of (name, gender)
    cities : list of str
    """

    def __init__(self, seed=_LANGUAGE_SEED):
        rnd = random.Random(seed).random
        used = set(_FUNCTION_WORDS)
        used.update(("ol", "nem"))

        def pick(seq):
            return seq[int(rnd() * len(seq))]

        def stem():
            while True:
                n_syl = 1 + int(rnd() * 2.2)
                s = "".join(pick(_ONSETS) + pick(_VOWELS) for _ in range(n_syl)) + pick(_CODAS)
                if s not in used:
                    used.add(s)
                    return s

        self.nouns = []
        for i in range(160):
            g = int(rnd() * 2)
            s = stem()
            self.nouns.append(([s + _GENDER_VOWEL[g], s + _GENDER_VOWEL[g] + "n"], g))
        self.adjectives = [stem() for _ in range(48)]
        self.intransitive = [stem() for _ in range(60)]
        self.transitive = [stem() for _ in range(80)]
        self.professions = [stem() for _ in range(16)]
        self.names = []
        for i in range(12):
            s = stem()
            self.names.append((s[0].upper() + s[1:] + pick(("a", "o", "in", "el")), int(rnd() * 2)))
        self.names.extend(_EXTRA_NAMES)
        self.cities = []
        for i in range(13):
            s = stem()
            self.cities.append(s[0].upper() + s[1:] + pick(("ek", "in", "ar", "os")))
        self.cities.extend(_EXTRA_CITIES)

    @staticmethod
    def verb(stem, tense, gender, number):
        """Inflected verb: stem + tense vowel + agreement suffix."""
        return stem + _TENSES[tense] + _AGREEMENT[gender][number]

    @staticmethod
    def adjective(stem, gender, number):
        return stem + _GENDER_VOWEL[gender] + ("n" if number else "")


LANGUAGE = Language()


def _zipf_cdf(n, offset=3):
    """Cumulative Zipf-Mandelbrot weights 1 / (rank + offset), ranks 1..n, as integers.

    Integer weights (floor(2**32 / (rank + offset))) keep the sampling exact on
    every platform: no pow() from the C library, whose last bit may differ.
    """
    acc, out = 0, []
    for k in range(1, n + 1):
        acc += (1 << 32) // (k + offset)
        out.append(acc)
    return out


class _Writer:
    """Generates paragraphs of the corpus from one ``random.Random(seed)`` stream."""

    def __init__(self, seed, lang=LANGUAGE):
        self.rnd = random.Random(seed).random
        self.lang = lang
        self.noun_cdf = _zipf_cdf(len(lang.nouns))
        self.adj_cdf = _zipf_cdf(len(lang.adjectives))
        self.intr_cdf = _zipf_cdf(len(lang.intransitive))
        self.tr_cdf = _zipf_cdf(len(lang.transitive))
        self.tense = 0

    # small helpers ------------------------------------------------------------
    def _zipf(self, cdf):
        return bisect.bisect_right(cdf, int(self.rnd() * cdf[-1]))

    def _pick(self, seq):
        return seq[int(self.rnd() * len(seq))]

    def _verb(self, transitive, gender, number):
        lang = self.lang
        if transitive:
            s = lang.transitive[self._zipf(self.tr_cdf)]
        else:
            s = lang.intransitive[self._zipf(self.intr_cdf)]
        return Language.verb(s, self.tense, gender, number)

    def _noun_phrase(self, max_adj=2):
        """(words, gender, number) of Det Adj* Noun."""
        forms, g = self.lang.nouns[self._zipf(self.noun_cdf)]
        n = 1 if self.rnd() < 0.35 else 0
        kind = 1 if self.rnd() < 0.2 else 0
        words = [_DETERMINERS[kind][g][n]]
        r = self.rnd()
        n_adj = 0 if r < 0.6 else (1 if r < 0.9 or max_adj < 2 else 2)
        for _ in range(min(n_adj, max_adj)):
            words.append(Language.adjective(self.lang.adjectives[self._zipf(self.adj_cdf)], g, n))
        words.append(forms[n])
        return words, g, n

    def _object_tail(self, words):
        """Optional object NP and prepositional phrase after a verb (appended to words)."""
        if self.rnd() < 0.3:
            words.append(self._pick(_PREPOSITIONS))
            words.extend(self._noun_phrase(1)[0])

    def _predicate(self, words, g, n):
        if self.rnd() < 0.55:
            words.append(self._verb(True, g, n))
            words.extend(self._noun_phrase()[0])
        else:
            words.append(self._verb(False, g, n))
        self._object_tail(words)

    # sentences ----------------------------------------------------------------
    def grammar_sentence(self):
        """Det Adj* Noun [, relative clause,] Verb [object] [Prep NP]."""
        words, g, n = self._noun_phrase()
        if self.rnd() < 0.4:
            if self.rnd() < 0.5:  # object relative: the clause verb agrees with the clause NP
                inner, g2, n2 = self._noun_phrase(1)
                words[-1] += ","
                words.append("wo")
                words.extend(inner)
                words.append(self._verb(True, g2, n2) + ",")
            else:  # subject relative: the clause verb agrees with the head noun
                words[-1] += ","
                words.append("wi")
                words.append(self._verb(True, g, n))
                inner = self._noun_phrase(1)[0]
                inner[-1] += ","
                words.extend(inner)
        self._predicate(words, g, n)
        s = " ".join(words)
        return s[0].upper() + s[1:] + "."

    def arithmetic_fact(self):
        r = self.rnd()
        if r < 0.5:
            a, b = int(self.rnd() * 51), int(self.rnd() * 51)
            return f"{a} plus {b} is {a + b}"
        if r < 0.75:
            a, b = int(self.rnd() * 13), int(self.rnd() * 13)
            return f"{a} times {b} is {a * b}"
        a = int(self.rnd() * 61)
        b = int(self.rnd() * (a + 1))
        return f"{a} minus {b} is {a - b}"

    def paragraph(self):
        lang, rnd = self.lang, self.rnd
        self.tense = int(rnd() * 3)
        n_ent = 1 if rnd() < 0.6 else 2
        ents = []
        while len(ents) < n_ent:
            name, g = self._pick(lang.names)
            if all(e[0] != name for e in ents):
                prof = lang.professions[int(rnd() * len(lang.professions))] + _GENDER_VOWEL[g]
                ents.append((name, g, prof, self._pick(lang.cities)))
        out = []
        for name, g, prof, city in ents:
            out.append(f"{name} {Language.verb('ol', self.tense, g, 0)} {prof} po {city}.")
        last = ents[-1]
        for _ in range(3 + int(rnd() * 7)):
            r = rnd()
            if r < 0.45:
                s = self.grammar_sentence()
            elif r < 0.75:
                last = self._pick(ents)
                s = self._entity_sentence(last)
            elif r < 0.83:
                g = last[1]
                words = [_PRONOUNS[g]]
                self._predicate(words, g, 0)
                s = " ".join(words)
                s = s[0].upper() + s[1:] + "."
            elif r < 0.91:
                f = self.arithmetic_fact()
                s = f[0].upper() + f[1:] + "."
            else:
                s = self.grammar_sentence()[:-1] + f" ({self.arithmetic_fact()})."
            out.append(s)
        return " ".join(out)

    def _entity_sentence(self, ent):
        name, g, prof, city = ent
        r = self.rnd()
        if r < 0.35:
            return f"{name} {self._verb(False, g, 0)} na {city}."
        if r < 0.6:
            words = [name, self._verb(True, g, 0)]
            words.extend(self._noun_phrase()[0])
            return " ".join(words) + "."
        if r < 0.8:
            return f'{name} {Language.verb("nem", self.tense, g, 0)}: "{self.grammar_sentence()}"'
        return f"{name}, {prof} po {city}, {self._verb(False, g, 0)}."


def generate_corpus(n_bytes=4_000_000, seed=0):
    """Deterministic synthetic text of exactly ``n_bytes`` bytes of valid UTF-8.

    See the module docstring for its structure. Same (n_bytes, seed) gives the
    same bytes on every platform and Python version.

    Parameters
    ----------
    n_bytes : int >= 1
    seed : int >= 0

    Returns
    -------
    bytes
    """
    n_bytes = _check_int("n_bytes", n_bytes, 1)
    seed = _check_int("seed", seed, 0)
    writer = _Writer(seed)
    parts, size = [], 0
    while size < n_bytes:
        p = writer.paragraph().encode("utf-8") + b"\n\n"
        parts.append(p)
        size += len(p)
    data = b"".join(parts)[:n_bytes]
    return data[:_utf8_boundary(data)].ljust(n_bytes, b"\n")


def _utf8_boundary(data):
    """Length of the longest prefix of ``data`` that does not end inside a character."""
    i = len(data) - 1
    while i >= 0 and (data[i] & 0xC0) == 0x80:  # continuation bytes
        i -= 1
    if i < 0:
        return 0
    lead = data[i]
    need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return len(data) if i + need <= len(data) else i


@functools.lru_cache(maxsize=1)
def default_corpus():
    """``generate_corpus()`` with its defaults (4 MB, seed 0), built once per process."""
    return generate_corpus()


# -- files ----------------------------------------------------------------------
def load_text(path):
    """The raw bytes of the file at ``path`` (the training CLI's ``--data FILE``).

    The content is not decoded: the byte tokenizer takes any bytes, so a file
    that is not valid UTF-8 still loads (check with :func:`is_utf8` to warn).

    Raises
    ------
    TypeError
        ``path`` is not a str or os.PathLike.
    FileNotFoundError
        No file at ``path``.
    ValueError
        ``path`` is a directory, or the file is empty.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"argument 'data': expected a file path, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"argument 'data': no such file: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"argument 'data': expected a file, got the directory {path!r}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise type(e)(f"argument 'data': cannot read {path!r}: {e.strerror or e}") from e
    if not data:
        raise ValueError(f"argument 'data': the file {path!r} is empty")
    return data


def is_utf8(b):
    """Whether the bytes ``b`` are valid UTF-8."""
    try:
        bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- dataset --------------------------------------------------------------------
_BATCH_DOMAIN = 0xDA7A  # keeps batch streams apart from other (seed, step) uses of SeedSequence


def _as_tokens(tokens):
    """Canonical 1-D token array: uint8 when every id fits, else int32."""
    if isinstance(tokens, (bytes, bytearray, memoryview)):
        arr = np.frombuffer(bytes(tokens), dtype=np.uint8)
    else:
        arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ValueError(f"argument 'tokens': expected a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("argument 'tokens': expected a non-empty sequence, got 0 tokens")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"argument 'tokens': expected integer token ids, got dtype {arr.dtype}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > np.iinfo(np.int32).max:
        raise ValueError(f"argument 'tokens': expected ids in [0, 2**31), got range [{lo}, {hi}]")
    return np.ascontiguousarray(arr, dtype=np.uint8 if hi < 256 else np.int32)


class TokenDataset:
    """A token stream split into train and validation, with deterministic batches.

    Parameters
    ----------
    tokens : 1-D integer array-like or bytes
        The whole token stream (e.g. ``ByteTokenizer().encode(text)``).
    seq_len : int >= 1
        Tokens per training window; each window reads ``seq_len + 1`` tokens
        (targets are the inputs shifted by one).
    val_fraction : float in (0, 1)
        The last ``round(len(tokens) * val_fraction)`` tokens are the
        validation split (clipped so that both splits are non-empty).

    Attributes
    ----------
    train_tokens, val_tokens : np.ndarray (views of the stream)
    seq_len : int
    val_fraction : float
    fingerprint : str
        Hex SHA-256 of the token bytes, their dtype and the split point (not of
        ``seq_len``): a checkpoint stores it to refuse resuming on other data.

    Raises
    ------
    ValueError
        Empty stream, ``val_fraction`` outside (0, 1), ``seq_len + 1`` longer
        than either split (the message names the split and its length).
    """

    def __init__(self, tokens, seq_len, val_fraction=0.1):
        arr = _as_tokens(tokens)
        self.seq_len = _check_int("seq_len", seq_len, 1)
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating,
                                                                            np.integer)):
            raise TypeError("argument 'val_fraction': expected a float, "
                            f"got {type(val_fraction).__name__}")
        val_fraction = float(val_fraction)
        if not 0.0 < val_fraction < 1.0:
            raise ValueError("argument 'val_fraction': expected a float in (0, 1), "
                             f"got {val_fraction}")
        self.val_fraction = val_fraction
        n = arr.size
        if n < 2:
            raise ValueError(f"argument 'tokens': expected at least 2 tokens to split, got {n}")
        cut = min(max(n - round(n * val_fraction), 1), n - 1)
        self._tokens = arr
        self.train_tokens = arr[:cut]
        self.val_tokens = arr[cut:]
        for split, part in (("train", self.train_tokens), ("validation", self.val_tokens)):
            if self.seq_len + 1 > part.size:
                raise ValueError(
                    f"argument 'seq_len': expected seq_len + 1 <= {part.size} (the {split} split "
                    f"has {part.size} tokens of {n}), got seq_len={self.seq_len}")
        h = hashlib.sha256()
        h.update(f"fp4train.TokenDataset v1 dtype={arr.dtype.str} n={n} cut={cut} "
                 f"val_fraction={val_fraction!r}\n".encode())
        h.update(arr.tobytes())
        self.fingerprint = h.hexdigest()

    def __len__(self):
        return self._tokens.size

    @property
    def tokens(self):
        """The whole stream (train then validation)."""
        return self._tokens

    def _windows(self, split, starts):
        idx = starts[:, None] + np.arange(self.seq_len + 1, dtype=np.int64)[None, :]
        w = split[idx].astype(np.int32)
        return np.ascontiguousarray(w[:, :-1]), np.ascontiguousarray(w[:, 1:])

    def train_batch(self, batch_size, seed, step):
        """A training batch that is a pure function of (seed, step).

        Window starts are ``batch_size`` uniform draws (with replacement) from
        ``np.random.default_rng([seed, step, 0xDA7A])``, so a resumed run sees
        exactly the batches it would have seen, whatever happened before.

        Returns
        -------
        x, y : np.ndarray int32 of shape (batch_size, seq_len); y is x shifted by one.
        """
        batch_size = _check_int("batch_size", batch_size, 1)
        seed = _check_int("seed", seed, 0)
        step = _check_int("step", step, 0)
        rng = np.random.default_rng([seed, step, _BATCH_DOMAIN])
        starts = rng.integers(0, self.train_tokens.size - self.seq_len, size=batch_size,
                              dtype=np.int64)
        return self._windows(self.train_tokens, starts)

    def val_windows(self):
        """How many non-overlapping windows the validation split holds."""
        return (self.val_tokens.size - 1) // self.seq_len

    def val_batches(self, batch_size, max_batches=None):
        """Fixed evaluation batches from the validation split, the same on every call.

        Windows start at multiples of ``seq_len`` (each validation token is a
        target at most once) and are chosen evenly over the whole split, so a
        small ``max_batches`` still samples all of it.

        Parameters
        ----------
        batch_size : int >= 1
        max_batches : int >= 1 or None (all windows)

        Returns
        -------
        list of (x, y), int32 arrays (batch_size, seq_len). All batches are full,
        except when the split holds fewer than ``batch_size`` windows: then one
        batch of all of them.
        """
        batch_size = _check_int("batch_size", batch_size, 1)
        if max_batches is not None:
            max_batches = _check_int("max_batches", max_batches, 1)
        avail = self.val_windows()
        want = avail if max_batches is None else min(avail, batch_size * max_batches)
        if want >= batch_size:
            want -= want % batch_size
        chosen = (np.arange(want, dtype=np.int64) * avail) // want
        starts = chosen * self.seq_len
        out = []
        for i in range(0, want, batch_size):
            out.append(self._windows(self.val_tokens, starts[i:i + batch_size]))
        return out

    def __repr__(self):
        return (f"TokenDataset(tokens={self._tokens.size}, train={self.train_tokens.size}, "
                f"val={self.val_tokens.size}, seq_len={self.seq_len})")
