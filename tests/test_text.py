"""The byte-level data pipeline: corpora, split, hash, Markov entropy rate, knobs, batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError
from sim.text import (
    LN_256,
    BatchSampler,
    Corpus,
    MarkovSource,
    empirical_conditional_entropy,
    load_corpus,
    parse_knobs,
    unique_tokens_for,
    val_batches,
)
from sim import text as text_module

# A slice of the standard library keeps the knob tests fast; the whole of it is read once (cached).
SMALL = 3_000_000


def _h(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def _docs(c: Corpus) -> list[bytes]:
    return [c.document(i).tobytes() for i in range(c.n_documents)]


# ---------------------------------------------------------------------------------------------- stdlib


def test_stdlib_split_is_by_file_deterministic_and_disjoint():
    a = load_corpus("stdlib")
    b = load_corpus("stdlib", seed=7)  # no random knob: the seed must not move the split
    assert a.content_hash == b.content_hash
    assert np.array_equal(a.train, b.train) and np.array_equal(a.val, b.val)
    assert a.train.dtype == np.uint8 and not a.train.flags.writeable

    root, files = text_module._stdlib_files(False)
    contents = {rel: data for rel, data in files if data}
    assert not any("/test/" in "/" + rel or "site-packages" in rel for rel in contents)
    # every train document is a whole file, every validation document too, and no file is on both sides
    train_docs = _docs(a)
    val_docs = [a.val[a.val_documents[i] : a.val_documents[i + 1]].tobytes() for i in range(len(a.val_documents) - 1)]
    by_content = {}
    for rel, data in contents.items():
        by_content.setdefault(data, []).append(rel)
    assert all(d in by_content for d in train_docs + val_docs)
    train_paths = {p for d in train_docs for p in by_content[d]}
    val_paths = {p for d in val_docs for p in by_content[d]}
    # identical files (a few tiny ones) may share content; files with unique content are on one side
    unique = {d: ps[0] for d, ps in by_content.items() if len(ps) == 1}
    assert not {unique[d] for d in train_docs if d in unique} & {unique[d] for d in val_docs if d in unique}
    assert len(train_docs) + len(val_docs) == len(contents)
    assert train_paths | val_paths == set(contents)
    # validation is chosen by the path's hash, ~val_fraction of files, in sorted order
    expected_val = sorted(rel for rel in contents if text_module._path_fraction(rel) < 0.1)
    assert [contents[r] for r in expected_val] == val_docs
    assert 0.05 < len(val_docs) / len(contents) < 0.15
    assert a.describe()["source"]["python"]


def test_hash_is_stable_and_follows_knobs_and_content():
    base = load_corpus("stdlib", max_bytes=SMALL)
    assert load_corpus("stdlib", max_bytes=SMALL).content_hash == base.content_hash
    others = [
        load_corpus("stdlib", max_bytes=SMALL - 1),
        load_corpus("stdlib", max_bytes=SMALL, val_fraction=0.2),
        load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.1),
        load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.1, seed=1),
        load_corpus("stdlib", max_bytes=SMALL, duplicate_fraction=0.1),
        load_corpus("stdlib", max_bytes=SMALL, unique_tokens=100_000),
    ]
    hashes = {base.content_hash} | {c.content_hash for c in others}
    assert len(hashes) == 1 + len(others)
    d = others[2].describe()
    assert d["knobs"]["corrupt_fraction"] == 0.1 and d["knobs"]["seed"] == 0
    assert d["train_tokens"] == others[2].train.size and d["content_hash"] == others[2].content_hash


# ---------------------------------------------------------------------------------------------- markov


def test_markov_entropy_rate_of_a_two_state_chain_by_hand():
    # P = [[0.9, 0.1], [0.4, 0.6]]: stationary π = (0.4, 0.1)/0.5 = (0.8, 0.2),
    # H = 0.8·h(0.1) + 0.2·h(0.4) nats
    src = MarkovSource(order=1, alphabet=2, transition=np.array([[0.9, 0.1], [0.4, 0.6]]))
    expected = 0.8 * _h(0.1) + 0.2 * _h(0.4)
    assert np.allclose(src.stationary("dense"), [0.8, 0.2], atol=1e-14)
    assert np.allclose(src.stationary("power"), [0.8, 0.2], atol=1e-13)
    assert src.entropy_rate("dense") == pytest.approx(expected, abs=1e-14)
    assert src.entropy_rate("power") == pytest.approx(expected, abs=1e-13)
    # the same chain written as order 2 (the older symbol ignored) has the same rate
    P2 = np.array([[0.9, 0.1], [0.4, 0.6], [0.9, 0.1], [0.4, 0.6]])  # context c = 2·x_{t-2} + x_{t-1}
    assert MarkovSource(order=2, alphabet=2, transition=P2).entropy_rate() == pytest.approx(expected, abs=1e-13)


@given(a=st.floats(0.01, 0.99), b=st.floats(0.01, 0.99))
@settings(max_examples=25)
def test_markov_entropy_rate_two_state_closed_form(a, b):
    src = MarkovSource(order=1, alphabet=2, transition=np.array([[1 - a, a], [b, 1 - b]]))
    pi0 = b / (a + b)
    assert src.entropy_rate("dense") == pytest.approx(pi0 * _h(a) + (1 - pi0) * _h(b), abs=1e-12)


def test_markov_zipf_stationary_and_empirical_entropy():
    src = MarkovSource.zipf(order=2, alphabet=8, exponent=1.2, spread=0.6, seed=3)
    pi_dense, pi_power = src.stationary("dense"), src.stationary("power")
    assert np.abs(pi_dense - pi_power).max() < 1e-12
    # balance: π(c') = Σ_c π(c) P(c, x) over (c, x) -> c'
    nxt = src._next_contexts()
    flow = np.bincount(nxt.ravel(), weights=(pi_dense[:, None] * src.transition).ravel(), minlength=src.n_contexts)
    assert np.abs(flow - pi_dense).max() < 1e-14
    H = src.entropy_rate()
    # contexts differ in entropy (the spread), so the stationary weights matter
    assert src.context_entropies().std() > 0.05
    assert 0 < H < math.log(8)
    x = src.sample(1_000_000, np.random.default_rng(0))
    assert set(np.unique(x)) <= set(src.symbol_bytes.tolist())
    # plug-in estimate, biased low by ~ 64·7/(2·10^6) = 2e-4 nats; sampling error ~1e-3
    assert empirical_conditional_entropy(x, 2, src.symbol_bytes) == pytest.approx(H, abs=6e-3)
    # the estimator is sharp enough to tell the chain from an order-1 view of it
    assert empirical_conditional_entropy(x, 1, src.symbol_bytes) > H + 0.02


def test_markov_corpus_records_its_entropy_rate():
    c = load_corpus("markov", order=2, alphabet=16, zipf=1.0, length=200_000, seed=5)
    src = MarkovSource.zipf(2, 16, 1.0, 0.5, 5)
    assert c.entropy_rate_nats == pytest.approx(src.entropy_rate(), rel=1e-12)
    assert c.describe()["entropy_rate_bits"] == pytest.approx(c.entropy_rate_nats / math.log(2))
    assert c.train.size + c.val.size == 200_000
    assert c.val.size == pytest.approx(20_000, abs=4096)
    assert load_corpus("markov", order=2, alphabet=16, length=200_000, seed=5).content_hash == c.content_hash
    assert load_corpus("markov", order=2, alphabet=16, length=200_000, seed=6).content_hash != c.content_hash


# ---------------------------------------------------------------------------------------------- knobs


def test_document_corruption_fraction_and_labels():
    clean = load_corpus("stdlib", max_bytes=SMALL)
    bad = load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.25, seed=2)
    n = clean.n_documents
    assert bad.n_documents == n and np.array_equal(bad.documents, clean.documents)
    assert bad.corrupted.sum() == round(0.25 * n)
    for i in range(n):
        same = np.array_equal(bad.document(i), clean.document(i))
        assert same != bool(bad.corrupted[i])
    assert np.array_equal(bad.val, clean.val)  # validation stays clean
    assert bad.effects["corrupt"]["documents"] == round(0.25 * n)


def test_byte_corruption_fraction_is_exact():
    clean = load_corpus("stdlib", max_bytes=SMALL)
    bad = load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.03, corrupt_mode="bytes", seed=4)
    differ = int((bad.train != clean.train).sum())
    assert differ == round(0.03 * clean.train.size)
    assert bad.corrupted is None and np.array_equal(bad.val, clean.val)


def test_filter_finds_corrupted_documents_without_labels():
    c = load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.2, filter_corrupted=True, seed=1)
    f = c.effects["filter"]
    n_bad = c.effects["corrupt"]["documents"]
    assert n_bad > 10
    assert f["precision"] >= 0.95 and f["recall"] >= 0.95
    assert c.corrupted.sum() <= n_bad - 0.95 * n_bad  # what is left is (nearly) clean
    # on clean text the same filter keeps nearly everything
    clean = load_corpus("stdlib", max_bytes=SMALL, filter_corrupted=True)
    assert clean.effects["filter"]["dropped_documents"] <= 0.02 * clean.n_documents + 1
    # the score: uniform random bytes sit above ln 256 under the validation model (Gibbs), text below
    scores = load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.2, seed=1).document_scores()
    labels = load_corpus("stdlib", max_bytes=SMALL, corrupt_fraction=0.2, seed=1).corrupted
    assert scores[labels].min() > LN_256 > np.median(scores[~labels])


def test_dedup_removes_exactly_the_inserted_copies():
    base = load_corpus("stdlib", max_bytes=SMALL, deduplicate=True)
    natural = base.effects["deduplicate"]["removed_documents"]
    dup = load_corpus("stdlib", max_bytes=SMALL, duplicate_fraction=0.3, seed=9)
    n_dup = dup.effects["duplicate"]["documents"]
    assert dup.duplicate.sum() == n_dup == round(0.3 * (base.n_documents + natural))
    docs = _docs(dup)
    for i in np.flatnonzero(dup.duplicate):  # each copy is an exact copy of an earlier document
        assert docs[i] in docs[:i]
    dedup = load_corpus("stdlib", max_bytes=SMALL, duplicate_fraction=0.3, deduplicate=True, seed=9)
    e = dedup.effects["deduplicate"]
    assert e["removed_inserted_copies"] == n_dup and e["inserted_copies_left"] == 0
    assert e["removed_natural_duplicates"] == natural
    assert np.array_equal(dedup.train, base.train)


def test_unique_token_cap_and_epochs():
    full = load_corpus("stdlib", max_bytes=SMALL)
    U = 123_457
    c = load_corpus("stdlib", max_bytes=SMALL, unique_tokens=U, epochs=8)
    assert c.train.size == U and np.array_equal(c.train, full.train[:U])
    assert c.documents[-1] == U and np.all(np.diff(c.documents) > 0)
    assert c.token_budget == 8 * U and c.epochs(8 * U) == pytest.approx(8.0)
    assert unique_tokens_for(1_600_000, 16) == 100_000
    s = BatchSampler(c.train, context=64, batch=8, seed=0)
    for _ in range(10):
        s.next()
    assert s.tokens_consumed == 10 * 8 * 64
    assert s.epochs_seen() == pytest.approx(5120 / U) and s.epochs_seen(2 * U) == pytest.approx(2.0)
    with pytest.raises(InputError):
        load_corpus("stdlib", max_bytes=SMALL, unique_tokens=10 * SMALL)


def test_select_documents_by_score():
    c = load_corpus("stdlib", max_bytes=SMALL)
    lengths = c.document_scores("length")
    short = c.select_documents(lengths, 0.5, keep="lowest")
    long = c.select_documents(lengths, 0.5, keep="highest")
    k = round(0.5 * c.n_documents)
    assert short.n_documents == long.n_documents == k
    assert np.diff(short.documents).max() <= np.diff(long.documents).min()
    assert len({c.content_hash, short.content_hash, long.content_hash}) == 3
    assert np.array_equal(short.val, c.val)
    kept = set(_docs(short))
    assert [d for d in _docs(c) if d in kept] == _docs(short)  # original order kept
    with pytest.raises(InputError):
        c.select_documents(lengths[:-1], 0.5)


# ---------------------------------------------------------------------------------------------- paths


def test_file_and_directory_corpora(tmp_path):
    text = b"".join(b"line %d of some text\n" % i for i in range(5000))
    f = tmp_path / "one.txt"
    f.write_bytes(text)
    c = load_corpus(str(f), val_fraction=0.2, document_bytes=1000)
    assert c.train.tobytes() + c.val.tobytes() == text  # contiguous tail
    assert c.val.size == pytest.approx(0.2 * len(text), abs=1100)
    assert all(c.document(i)[-1] == ord("\n") for i in range(c.n_documents))
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    for i in range(30):
        (d / ("sub" if i % 2 else "") / f"f{i:02d}.txt").write_bytes(b"file %d\n" % i * (i + 1))
    (d / "blob.bin").write_bytes(b"\x00\x01binary")
    (d / ".hidden").write_bytes(b"secret")
    c = load_corpus(str(d))
    assert c.n_documents + len(c.val_documents) - 1 == 30
    assert b"binary" not in c.train.tobytes() + c.val.tobytes()
    assert b"secret" not in c.train.tobytes() + c.val.tobytes()


def test_bad_inputs_raise_input_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "emptydir").mkdir()
    bad = [
        dict(spec=str(tmp_path / "missing.txt")),
        dict(spec=str(tmp_path / "empty.txt")),
        dict(spec=str(tmp_path / "emptydir")),
        dict(spec="stdlib", corrupt_fraction=1.5),
        dict(spec="stdlib", duplicate_fraction=-0.1),
        dict(spec="stdlib", val_fraction=0.0),
        dict(spec="stdlib", val_fraction=1.0),
        dict(spec="stdlib", colour="red"),
        dict(spec="stdlib", order=3),  # a markov knob
        dict(spec="stdlib", corrupt_mode="sometimes", corrupt_fraction=0.1),
        dict(spec="stdlib", epochs=4),
        dict(spec="stdlib", filter_corrupted="yes"),
        dict(spec="markov", alphabet=300),
        dict(spec="markov", order=4, alphabet=256),
        dict(spec=""),
    ]
    for kw in bad:
        spec = kw.pop("spec")
        with pytest.raises(InputError) as e:
            load_corpus(spec, **kw)
        assert e.value.field == "corpus" and e.value.problem
    with pytest.raises(InputError):
        parse_knobs(["colour=red"])
    with pytest.raises(InputError):
        parse_knobs(["corrupt_fraction=lots"])
    assert parse_knobs(["corrupt-fraction=0.1", "deduplicate=true", "unique_tokens=1e5"]) == {
        "corrupt_fraction": 0.1, "deduplicate": True, "unique_tokens": 100_000,
    }


# ---------------------------------------------------------------------------------------------- batches


@given(context=st.integers(1, 40), batch=st.integers(1, 9), seed=st.integers(0, 2**31), order=st.sampled_from(["random", "epoch"]))
@settings(max_examples=30)
def test_sampler_windows_are_shifted_by_one_and_deterministic(context, batch, seed, order):
    tokens = np.arange(500, dtype=np.int64)  # a token's value is its position
    a = BatchSampler(tokens, context, batch, seed, order=order)
    b = BatchSampler(tokens, context, batch, seed, order=order)
    for _ in range(3):
        x, y = a.next()
        x2, y2 = b.next()
        assert x.shape == y.shape == (batch, context) and x.dtype == np.int64
        assert np.array_equal(x, x2) and np.array_equal(y, y2)
        assert np.array_equal(y, x + 1)  # targets are the next tokens
        assert np.array_equal(x, x[:, :1] + np.arange(context))  # contiguous windows
        assert x.min() >= 0 and y.max() <= 499


def test_sampler_seeds_differ_and_epoch_order_covers_each_window_once():
    tokens = np.arange(10_001, dtype=np.int64)
    x1, _ = BatchSampler(tokens, 16, 32, seed=0).next()
    x2, _ = BatchSampler(tokens, 16, 32, seed=1).next()
    assert not np.array_equal(x1, x2)
    s = BatchSampler(tokens, 100, 10, seed=0, order="epoch")
    starts = np.concatenate([s.next()[0][:, 0] for _ in range(9)])  # 90 of the 99 or 100 windows
    assert len(set(starts.tolist())) == 90
    assert len(set((starts % 100).tolist())) == 1  # one offset per pass, non-overlapping windows
    buf = (np.zeros((10, 100), np.int32), np.zeros((10, 100), np.int32))
    out = s.next(out=buf)
    assert out[0] is buf[0] and np.array_equal(buf[1], buf[0] + 1)


def test_weighted_sampler_follows_document_weights():
    tokens = np.arange(3000, dtype=np.int64)
    docs = np.array([0, 1000, 2000, 3000])
    s = BatchSampler(tokens, 10, 200, seed=0, documents=docs, weights=np.array([0.0, 1.0, 0.0]))
    x, _ = s.next()
    assert x[:, 0].min() >= 1000 and x[:, 0].max() < 2000
    s = BatchSampler(tokens, 10, 4000, seed=0, documents=docs, weights=np.array([1.0, 3.0, 0.0]))
    frac = (s.next()[0][:, 0] >= 1000).mean()
    assert frac == pytest.approx(0.75, abs=0.03)


def test_val_batches_fixed_and_full():
    c = load_corpus("markov", order=1, alphabet=4, length=50_000, seed=0)
    a = val_batches(c.val, context=64, batch=8, max_batches=5)
    b = val_batches(c.val, context=64, batch=8, max_batches=5)
    assert len(a) == 5
    for (x, y), (x2, y2) in zip(a, b):
        assert x.shape == (8, 64) and np.array_equal(x, x2) and np.array_equal(y, y2)
        assert np.array_equal(x[:, 1:], y[:, :-1])
    tiny = val_batches(np.arange(100), context=30, batch=8, max_batches=3)
    assert len(tiny) == 1 and tiny[0][0].shape == (8, 30)
    with pytest.raises(InputError):
        val_batches(np.arange(10), context=30, batch=8, max_batches=3)


def test_markov_window_loss_floor():
    # order 1, π = (0.8, 0.2): every target has ≥ 1 byte of history, so the floor is the rate
    src = MarkovSource(order=1, alphabet=2, transition=np.array([[0.9, 0.1], [0.4, 0.6]]))
    H = 0.8 * _h(0.1) + 0.2 * _h(0.4)
    assert np.allclose(src.conditional_entropies(), [_h(0.2), H])
    assert src.window_loss_floor(7) == pytest.approx(H)
    # order 2 over 2 symbols: the first target sees one byte, h_1 = H(X_t | X_{t-1}) > rate
    src = MarkovSource.zipf(order=2, alphabet=2, exponent=2.0, spread=0.5, seed=1)
    h = src.conditional_entropies()
    assert h[0] >= h[1] >= h[2] - 1e-12 and h[2] == pytest.approx(src.entropy_rate())
    assert src.window_loss_floor(4) == pytest.approx((h[1] + 3 * h[2]) / 4)
    # h_1 from a sample agrees with the exact value
    x = src.sample(400_000, np.random.default_rng(2))
    assert empirical_conditional_entropy(x, 1, src.symbol_bytes) == pytest.approx(h[1], abs=5e-3)
    c = load_corpus("markov", order=2, alphabet=2, zipf=2.0, length=20_000, seed=1)
    assert c.irreducible_loss(4) == pytest.approx(src.window_loss_floor(4))
    assert load_corpus("stdlib", max_bytes=SMALL).irreducible_loss(4) is None


def test_describe_is_plain_json():
    import json

    c = load_corpus("markov", order=1, alphabet=4, length=30_000, corrupt_fraction=0.2, duplicate_fraction=0.1,
                    filter_corrupted=True, deduplicate=True, unique_tokens=20_000, epochs=4, seed=3)
    d = json.loads(json.dumps(c.describe()))
    assert d["token_budget"] == 80_000 and d["train_tokens"] == 20_000
    assert d["effects"]["filter"]["precision"] == 1.0 and d["effects"]["filter"]["recall"] == 1.0
    assert set(d) >= {"name", "content_hash", "train_tokens", "val_tokens", "knobs", "entropy_rate_nats"}
