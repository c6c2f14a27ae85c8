"""fp4train.data: tokenizer, generated corpus (checked by an independent parser), files,
TokenDataset batches and errors."""
import os
import re

import numpy as np
import pytest

from fp4train import data
from fp4train.data import ByteTokenizer, TokenDataset

SAMPLE_BYTES = 300_000

# The documented morphology (module docstring), restated here independently of the code.
DETERMINER_CELL = {"ta": (0, 0), "tu": (1, 0), "tan": (0, 1), "tun": (1, 1),
                   "da": (0, 0), "du": (1, 0), "dan": (0, 1), "dun": (1, 1)}
NOMINAL_ENDING = {(0, 0): "a", (1, 0): "u", (0, 1): "an", (1, 1): "un"}


def verb_cell(word):
    """(gender, number, tense vowel) of an inflected verb, from its suffix; None if not a verb."""
    for suffix, cell in (("sen", (0, 1)), ("ren", (1, 1)), ("s", (0, 0)), ("r", (1, 0))):
        if word.endswith(suffix):
            tense = word[-len(suffix) - 1]
            return (cell[0], cell[1], tense) if tense in "eio" else None
    return None


@pytest.fixture(scope="module")
def sample():
    return data.generate_corpus(SAMPLE_BYTES, seed=3).decode("utf-8")


# -- tokenizer ------------------------------------------------------------------
def test_tokenizer_encode_decode_utf8():
    tok = ByteTokenizer()
    assert tok.vocab_size == 256
    text = "Zelkön 17 plus 5 is 22.\n"
    ids = tok.encode(text)
    assert ids.dtype == np.uint8
    assert ids.tolist() == list(text.encode("utf-8"))
    assert len(ids) == len(text) + 1  # ö is two bytes
    assert tok.decode(ids) == text
    assert tok.decode(ids.astype(np.int64).tolist()) == text
    np.testing.assert_array_equal(tok.encode(text.encode()), ids)
    np.testing.assert_array_equal(tok.encode(bytearray(b"ab")), [97, 98])
    assert tok.decode([]) == ""


def test_tokenizer_non_utf8_bytes_are_tokens():
    raw = bytes(range(256))
    ids = ByteTokenizer().encode(raw)
    np.testing.assert_array_equal(ids, np.arange(256))
    out = ByteTokenizer().decode(ids)
    assert "\ufffd" in out and out.startswith("".join(map(chr, range(128))))


def test_tokenizer_errors():
    tok = ByteTokenizer()
    with pytest.raises(TypeError, match="argument 'text'"):
        tok.encode(123)
    with pytest.raises(ValueError, match="argument 'ids'.*256|argument 'ids'.*range"):
        tok.decode([1, 256])
    with pytest.raises(ValueError, match="argument 'ids'"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="argument 'ids'"):
        tok.decode(np.array([1.0]))
    with pytest.raises(ValueError, match="argument 'ids'"):
        tok.decode(np.zeros((2, 2), dtype=np.int32))


# -- corpus: sizes and determinism ---------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 1000, 12_345])
def test_corpus_exact_size_and_valid_utf8(n):
    for seed in (0, 1, 2):
        c = data.generate_corpus(n, seed=seed)
        assert isinstance(c, bytes) and len(c) == n
        assert data.is_utf8(c)


def test_corpus_cuts_at_character_boundaries():
    """Every length ending inside a multi-byte character is padded, never split."""
    full = data.generate_corpus(20_000, seed=0)
    pos = [i for i, b in enumerate(full) if b >= 0xC0]
    assert pos, "the corpus should contain multi-byte characters"
    for p in pos[:5]:
        width = 2 if full[p] < 0xE0 else 3 if full[p] < 0xF0 else 4
        for n in range(p + 1, p + width):  # ends inside the character
            c = data.generate_corpus(n, seed=0)
            assert len(c) == n and data.is_utf8(c)
            assert c[:p] == full[:p]
            assert c[p:] == b"\n" * (n - p)
        assert data.generate_corpus(p + width, seed=0) == full[:p + width]


def test_corpus_deterministic_and_seeded():
    a = data.generate_corpus(50_000, seed=7)
    assert data.generate_corpus(50_000, seed=7) == a
    assert data.generate_corpus(50_000, seed=8) != a
    assert data.generate_corpus(50_000, seed=8)[:200] != a[:200]
    # shorter corpora are prefixes (away from the boundary)
    assert data.generate_corpus(20_000, seed=7)[:19_990] == a[:19_990]


def test_corpus_argument_errors():
    with pytest.raises(ValueError, match="argument 'n_bytes'"):
        data.generate_corpus(0)
    with pytest.raises(TypeError, match="argument 'n_bytes'"):
        data.generate_corpus(1.5)
    with pytest.raises(ValueError, match="argument 'seed'"):
        data.generate_corpus(10, seed=-1)
    with pytest.raises(TypeError, match="argument 'seed'"):
        data.generate_corpus(10, seed=True)


def test_default_corpus_cached_and_default():
    a = data.default_corpus()
    assert a is data.default_corpus()
    assert len(a) == 4_000_000
    assert a[:10_000] == data.generate_corpus(10_000)
    assert data.is_utf8(a)


# -- corpus: structure, checked by an independent parser -------------------------
def test_corpus_paragraphs_and_characters(sample):
    assert "\n\n" in sample and "\n\n\n" not in sample.rstrip("\n")
    paragraphs = [p for p in sample.split("\n\n") if p.strip()]
    assert len(paragraphs) > 200
    assert all("\n" not in p for p in paragraphs)
    assert any(ord(ch) > 127 for ch in sample)
    # a rich but bounded byte alphabet
    assert 40 < len(set(sample)) < 100


def test_corpus_subject_verb_agreement_across_relative_clauses(sample):
    """Parse every determiner-initial sentence with the documented suffix rules."""
    pattern = re.compile(r"(?:^|(?<=\. )|(?<=: \"))"
                         r"(Ta|Tu|Tan|Tun|Da|Du|Dan|Dun) ([^.(\"]*)(?=[.(])")
    checked = attractors = subject_rel = object_rel = 0
    for m in pattern.finditer(sample):
        det, words = m.group(1).lower(), m.group(2).split()
        cell = DETERMINER_CELL[det]
        ending = NOMINAL_ENDING[cell]
        i = 0
        assert words, m.group(0)
        while not words[i].endswith(","):  # head noun phrase (adjectives + noun) or up to verb
            if verb_cell(words[i]) is not None:
                break
            assert words[i].endswith(ending), (m.group(0), words[i])
            i += 1
        if words[i].endswith(","):  # relative clause set off by commas
            assert words[i].rstrip(",").endswith(ending), m.group(0)
            j = i + 1
            while not words[j].endswith(","):
                j += 1
            clause = [w.rstrip(",") for w in words[i + 1:j + 1]]
            if clause[0] == "wi":  # subject relative: its verb agrees with the head
                subject_rel += 1
                assert verb_cell(clause[1])[:2] == cell, m.group(0)
                inner = DETERMINER_CELL[clause[2]]
            else:
                assert clause[0] == "wo", m.group(0)
                object_rel += 1
                inner = DETERMINER_CELL[clause[1]]
                assert verb_cell(clause[-1])[:2] == inner, m.group(0)
            attractors += inner != cell
            i = j + 1
        main = verb_cell(words[i])
        assert main is not None, m.group(0)
        assert main[:2] == cell, m.group(0)
        checked += 1
    assert checked > 2000
    assert subject_rel > 200 and object_rel > 200 and attractors > 200


def test_corpus_arithmetic_facts_are_true(sample):
    ops = {"plus": lambda a, b: a + b, "times": lambda a, b: a * b, "minus": lambda a, b: a - b}
    facts = re.findall(r"(\d+) (plus|times|minus) (\d+) is (\d+)", sample)
    assert len(facts) > 300
    assert {f[1] for f in facts} == set(ops)
    for a, op, b, c in facts:
        assert ops[op](int(a), int(b)) == int(c), (a, op, b, c)
    assert all(int(c) >= 0 for *_, c in facts)


def test_corpus_brackets_and_quotes_pair(sample):
    for p in sample.split("\n\n"):
        assert p.count('"') % 2 == 0, p
        depth = 0
        for ch in p:
            depth += (ch == "(") - (ch == ")")
            assert 0 <= depth <= 1, p
        assert depth == 0, p
    assert sample.count("(") > 100 and sample.count('"') > 200


def test_corpus_entities_consistent_within_paragraph(sample):
    """A name keeps its city, profession and gender; pronouns and tense stay consistent."""
    name_gender = {}
    n_mentions = 0
    for p in sample.split("\n\n"):
        if not p.strip():
            continue
        intros = re.findall(r"(\w+) ol([eio])([sr]) (\w+) po (\w+)\.", p)
        assert intros, p
        tenses = {t for _, t, _, _, _ in intros}
        assert len(tenses) == 1, p
        facts = {}
        for name, _, agr, prof, city in intros:
            gender = 0 if agr == "s" else 1
            assert name_gender.setdefault(name, gender) == gender, name
            assert prof.endswith("au"[gender]), (name, prof)
            facts[name] = (prof, city)
        for name, prof, city in re.findall(r"(\w+), (\w+) po (\w+),", p):
            assert facts[name] == (prof, city), p
            n_mentions += 1
        for name, verb, city in re.findall(r"(\w+) (\w+) na ([A-Z\u00c0-\u017f]\w+)\.", p):
            if name in facts:
                assert facts[name][1] == city, p
                assert verb_cell(verb)[:2] == (name_gender[name], 0), p
                n_mentions += 1
        # every verb in the paragraph has the paragraph's tense
        for w in re.findall(r"\w+", p):
            cell = verb_cell(w)
            if cell is not None and re.fullmatch(r"[a-z]+", w) and w not in DETERMINER_CELL \
                    and w not in ("is", "plus", "times", "minus"):
                assert cell[2] in tenses, (w, p)
        # pronouns agree with the entity they follow (the last one named)
        for pron, verb in re.findall(r"(?:^|\. )(Se|Si) (\w+)", p):
            assert verb_cell(verb)[:2] == ((0 if pron == "Se" else 1), 0), p
            assert (0 if pron == "Se" else 1) in {name_gender[n] for n in facts}, p
    assert n_mentions > 300
    assert len(name_gender) >= 10


def test_language_forms_do_not_collide():
    lang = data.LANGUAGE
    stems = lang.adjectives + lang.intransitive + lang.transitive + lang.professions
    stems += [forms[0][:-1] for forms, _ in lang.nouns]
    assert len(stems) == len(set(stems))
    for forms, g in lang.nouns:
        assert verb_cell(forms[0]) is None and verb_cell(forms[1]) is None
        assert forms[0].endswith("au"[g]) and forms[1] == forms[0] + "n"


# -- files ----------------------------------------------------------------------
def test_load_text(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes("héllo\n".encode())
    assert data.load_text(f) == "héllo\n".encode()
    assert data.load_text(str(f)) == "héllo\n".encode()
    g = tmp_path / "latin1.txt"
    g.write_bytes("caf\xe9".encode("latin-1"))
    raw = data.load_text(g)
    assert raw == b"caf\xe9" and not data.is_utf8(raw)
    assert data.is_utf8(b"abc") and data.is_utf8("é".encode())
    np.testing.assert_array_equal(ByteTokenizer().encode(raw), [99, 97, 102, 233])


def test_load_text_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="argument 'data'.*no such file"):
        data.load_text(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="argument 'data'.*directory"):
        data.load_text(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="argument 'data'.*empty"):
        data.load_text(empty)
    with pytest.raises(TypeError, match="argument 'data'"):
        data.load_text(42)
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked.txt"
        locked.write_bytes(b"x")
        locked.chmod(0)
        with pytest.raises(PermissionError, match="argument 'data'"):
            data.load_text(locked)


# -- TokenDataset ---------------------------------------------------------------
def ramp(n):
    """Tokens whose value is their position: windows reveal where they were read."""
    return np.arange(n, dtype=np.int64)


def test_split_sizes_and_dtypes():
    ds = TokenDataset(ramp(1000), seq_len=8, val_fraction=0.1)
    assert ds.train_tokens.size == 900 and ds.val_tokens.size == 100
    assert ds.train_tokens.dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([ds.train_tokens, ds.val_tokens]), ramp(1000))
    small = TokenDataset(np.arange(200) % 256, 4)
    assert small.train_tokens.dtype == np.uint8
    b = TokenDataset(b"abcdefghijklmnopqrstuvwxyz" * 4, 3, val_fraction=0.25)
    assert b.train_tokens.size == 78 and b.val_tokens.size == 26
    assert len(b) == 104


def test_train_batch_is_pure_function_of_seed_and_step():
    ds = TokenDataset(ramp(5000), seq_len=16)
    x1, y1 = ds.train_batch(8, seed=3, step=10)
    for s in range(5):  # other draws in between change nothing
        ds.train_batch(8, seed=3, step=s)
    np.random.seed(0)
    x2, y2 = ds.train_batch(8, seed=3, step=10)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    fresh = TokenDataset(ramp(5000), seq_len=16)
    np.testing.assert_array_equal(fresh.train_batch(8, 3, 10)[0], x1)
    assert not np.array_equal(ds.train_batch(8, 3, 11)[0], x1)
    assert not np.array_equal(ds.train_batch(8, 4, 10)[0], x1)
    assert x1.dtype == np.int32 and y1.dtype == np.int32 and x1.shape == (8, 16)
    assert x1.flags.c_contiguous and y1.flags.c_contiguous
    # windows are contiguous runs of the train split; y is x shifted by one
    np.testing.assert_array_equal(x1[:, 1:], y1[:, :-1])
    np.testing.assert_array_equal(y1, x1 + 1)
    np.testing.assert_array_equal(np.diff(x1, axis=1), 1)
    assert y1.max() < ds.train_tokens.size


def test_train_batch_covers_every_start_uniformly():
    ds = TokenDataset(ramp(20), seq_len=4, val_fraction=0.4)  # train = 0..11
    assert ds.train_tokens.size == 12
    starts = np.concatenate([ds.train_batch(64, 0, s)[0][:, 0] for s in range(100)])
    counts = np.bincount(starts, minlength=8)
    assert counts.size == 8  # last possible start 7: its target window ends at token 11
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
    x, y = ds.train_batch(1, 0, 0)
    assert x.shape == (1, 4)


def test_val_batches_fixed_nonoverlapping_and_spread():
    ds = TokenDataset(ramp(10_000), seq_len=10, val_fraction=0.1)  # val = 9000..9999
    v = ds.val_batches(4, max_batches=3)
    assert len(v) == 3 and all(x.shape == (4, 10) and x.dtype == np.int32 for x, _ in v)
    again = ds.val_batches(4, max_batches=3)
    for (xa, ya), (xb, yb) in zip(v, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    starts = np.concatenate([x[:, 0] for x, _ in v]) - 9000
    assert np.all(starts % 10 == 0)
    assert np.all(np.diff(starts) >= 10)  # non-overlapping targets
    assert starts[0] == 0 and starts[-1] > 800  # spread over the whole split
    for x, y in v:
        np.testing.assert_array_equal(y, x + 1)
        assert x.min() >= 9000 and y.max() <= 9999
    # all windows: each validation target at most once, 99 windows -> 24 full batches of 4
    allv = ds.val_batches(4)
    assert ds.val_windows() == 99 and len(allv) == 24
    targets = np.concatenate([y.ravel() for _, y in allv])
    assert np.unique(targets).size == targets.size
    assert len(ds.val_batches(4, max_batches=1000)) == 24


def test_val_batches_few_windows_give_one_partial_batch():
    ds = TokenDataset(ramp(100), seq_len=4, val_fraction=0.1)  # val = 10 tokens -> 2 windows
    v = ds.val_batches(8, max_batches=5)
    assert len(v) == 1 and v[0][0].shape == (2, 4)
    np.testing.assert_array_equal(v[0][0][:, 0], [90, 94])


def test_fingerprint():
    t = ramp(3000)
    a = TokenDataset(t, 8).fingerprint
    assert len(a) == 64 and int(a, 16) >= 0
    assert TokenDataset(t.copy(), 32).fingerprint == a  # seq_len not included
    assert TokenDataset(t, 8, val_fraction=0.2).fingerprint != a
    t2 = t.copy()
    t2[1234] += 1
    assert TokenDataset(t2, 8).fingerprint != a
    text = b"some text " * 50
    assert (TokenDataset(text, 4).fingerprint
            == TokenDataset(ByteTokenizer().encode(text), 4).fingerprint)


def test_dataset_errors():
    with pytest.raises(ValueError, match="argument 'tokens'.*non-empty"):
        TokenDataset(np.array([], dtype=np.int64), 4)
    with pytest.raises(ValueError, match="argument 'tokens'"):
        TokenDataset(np.array([5]), 1)
    with pytest.raises(ValueError, match="argument 'tokens'.*1-D"):
        TokenDataset(np.zeros((4, 4), dtype=np.int64), 2)
    with pytest.raises(TypeError, match="argument 'tokens'"):
        TokenDataset(np.zeros(100), 2)
    with pytest.raises(ValueError, match="argument 'tokens'"):
        TokenDataset(np.array([1, -2, 3] * 10), 2)
    with pytest.raises(ValueError, match="argument 'seq_len'"):
        TokenDataset(ramp(100), 0)
    with pytest.raises(TypeError, match="argument 'seq_len'"):
        TokenDataset(ramp(100), 4.0)
    with pytest.raises(ValueError, match="argument 'seq_len'.*validation split has 10 tokens"):
        TokenDataset(ramp(100), 10)
    with pytest.raises(ValueError, match="argument 'seq_len'.*train split has 10 tokens"):
        TokenDataset(ramp(100), 10, val_fraction=0.9)
    TokenDataset(ramp(100), 9)  # exactly fits: 10-token windows
    for bad in (0.0, 1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="argument 'val_fraction'"):
            TokenDataset(ramp(100), 2, val_fraction=bad)
    with pytest.raises(TypeError, match="argument 'val_fraction'"):
        TokenDataset(ramp(100), 2, val_fraction="0.1")
    ds = TokenDataset(ramp(100), 4)
    with pytest.raises(ValueError, match="argument 'batch_size'"):
        ds.train_batch(0, 0, 0)
    with pytest.raises(ValueError, match="argument 'step'"):
        ds.train_batch(2, 0, -1)
    with pytest.raises(TypeError, match="argument 'seed'"):
        ds.train_batch(2, None, 0)
    with pytest.raises(ValueError, match="argument 'batch_size'"):
        ds.val_batches(0)
    with pytest.raises(ValueError, match="argument 'max_batches'"):
        ds.val_batches(2, 0)


def test_default_corpus_end_to_end_batches():
    tok = ByteTokenizer()
    ds = TokenDataset(tok.encode(data.generate_corpus(100_000, seed=1)), 64)
    x, y = ds.train_batch(4, 0, 0)
    assert 0 <= x.min() and x.max() < tok.vocab_size
    text = tok.decode(np.concatenate([x[0], y[0, -1:]]))
    assert len(text) > 0
