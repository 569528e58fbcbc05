"""benchmarks/face_cnn_adabn.py and training.face_cnn.adapt_batch_norm: re-estimating the CNN's batch-norm
statistics on target faces changes those statistics only, to the target's, leaves the shipped network alone,
and the chunks cover every face once."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.face_cnn_adabn import chunks_of, member_proba, variant_probas  # noqa: E402
from training.face_cnn import adapt_batch_norm as adapted  # noqa: E402
from training.face_cnn import batch_norms  # noqa: E402


def network(seed: int = 0):
    """A small untrained CNN of the run-time's architecture with non-trivial batch-norm statistics."""
    from multimodal_fer.face import cnn

    torch.manual_seed(seed)
    net = cnn.build((4, 8, 8)).eval()
    for m in batch_norms(net):
        m.running_mean.uniform_(-0.5, 0.5)
        m.running_var.uniform_(0.5, 2.0)
    return net


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_keeping_the_own_statistics_changes_nothing_and_the_original_is_untouched():
    from multimodal_fer.face import cnn

    net = network()
    before = [m.running_mean.clone() for m in batch_norms(net)]
    x = crops(40)
    same = adapted(net, x, keep=1.0)
    assert np.allclose(member_proba([same], x), member_proba([net], x), atol=1e-5)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, batch_norms(net)))
    assert not same.training and not any(m.training for m in batch_norms(same))
    other = adapted(net, x)
    assert not np.allclose(cnn.predict_proba(other, x), cnn.predict_proba(net, x), atol=1e-3)


def test_the_first_layer_gets_the_targets_own_mean_and_variance():
    from multimodal_fer.face import cnn

    net = network()
    x = crops(30)  # one batch
    new = adapted(net, x)
    both = torch.cat([cnn.standardise(x), torch.flip(cnn.standardise(x), dims=[3])])
    with torch.no_grad():
        h = net[0](both)  # the first convolution's output, which the first batch norm normalises
    first = batch_norms(new)[0]
    assert torch.allclose(first.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(first.running_var, h.var(dim=(0, 2, 3), unbiased=True), rtol=1e-3)
    half = batch_norms(adapted(net, x, keep=0.5))[0]
    own = batch_norms(net)[0]
    assert torch.allclose(half.running_mean, (own.running_mean + first.running_mean) / 2, atol=1e-5)


@pytest.mark.parametrize("n,size", [(10, 64), (64, 64), (130, 64), (1000, 256)])
def test_chunks_cover_every_row_once_and_hold_at_least_their_size(n, size):
    parts = chunks_of(n, size, np.random.default_rng(0))
    rows = np.concatenate(parts)
    assert sorted(rows.tolist()) == list(range(n))
    assert all(len(p) >= min(size, n) for p in parts)


@pytest.mark.parametrize("variant", ["plain", "corpus", "corpus_half", "chunk_64"])
def test_every_variant_gives_probability_rows(variant):
    p = variant_probas([network(0), network(1)], crops(70), (variant,))[variant]
    assert p.shape == (70, 7)
    assert np.all(p >= 0) and np.allclose(p.sum(1), 1.0)


def test_the_plot_is_drawn_from_the_json_as_written(tmp_path):
    import json

    from benchmarks.face_cnn_adabn import LOCO, plot

    recall = {str(k): 0.1 * k for k in range(7)}  # JSON keys are strings
    res = {"n": 10, **{v: {"accuracy": 0.4, "recall": recall} for v in ("plain", "corpus", "corpus_half")}}
    payload = json.loads(json.dumps({"emotions_by_index": list("abcdefg"), "unseen_corpora": {c: res for c in LOCO}}))
    plot(payload, tmp_path / "img" / "adabn.png")
    assert (tmp_path / "img" / "adabn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _posteriors(prior_source: np.ndarray, prior_target: np.ndarray, n: int, seed: int = 0):
    """Rows drawn with ``prior_target`` from unit Gaussians at 1.5·e_k (K = 7), and their exact posteriors
    under ``prior_source``: calibrated at the source, shifted only in the class shares."""
    rng = np.random.default_rng(seed)
    y = rng.choice(7, size=n, p=prior_target)
    x = rng.normal(size=(n, 7)) + 1.5 * np.eye(7)[y]
    log_lik = -0.5 * ((x[:, None, :] - 1.5 * np.eye(7)[None]) ** 2).sum(axis=2)
    p = np.exp(log_lik - log_lik.max(axis=1, keepdims=True)) * prior_source
    return p / p.sum(axis=1, keepdims=True), y


def test_label_shift_em_recovers_a_shifted_prior_from_calibrated_posteriors():
    from benchmarks.face_cnn_adabn import label_shift_em

    source = np.full(7, 1 / 7)
    target = np.array([0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])
    p, y = _posteriors(source, target, 8000)
    q, w = label_shift_em(p, prior=source)
    assert np.allclose(w, target, atol=0.03)
    assert np.allclose(q.sum(axis=1), 1.0) and (q >= 0).all()
    assert (q.argmax(1) == y).mean() > (p.argmax(1) == y).mean()  # re-weighted to the right shares: more right


def test_label_shift_em_changes_nothing_when_the_shares_did_not_move():
    from benchmarks.face_cnn_adabn import label_shift_em

    source = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05])
    p, _ = _posteriors(source, source, 8000)
    q, w = label_shift_em(p, prior=source)
    assert np.allclose(w, source, atol=0.03)
    assert np.abs(q - p).max() < 0.1
