"""The evaluation metrics on constructed cases where the right answer is known.

Each test would fail for a wrong formula: a swapped KL, a missing square root, a marginal taken over
the wrong axis, a z-test on counts instead of shares.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lineage.data.tones import make_example
from lineage.eval import metrics as M
from conftest import require


def one_hot(labels, k):
    return np.eye(k)[labels]


# -- FID --------------------------------------------------------------------------------------------

def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    # diagonal covariances: ||m1 - m2||^2 + sum (s1 - s2)^2 (standard deviations)
    expected = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    assert M.frechet_distance(m1, np.diag(s1 ** 2), m2, np.diag(s2 ** 2)) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(600, 16)) @ rng.normal(size=(16, 16))
    assert abs(M.fid(feats, feats)) < 1e-6
    scores = [M.fid(feats + sigma * rng.normal(size=feats.shape), feats) for sigma in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


# -- IS, mIS, AM -------------------------------------------------------------------------------------

def test_inception_score_is_k_for_confident_balanced_classes_and_1_for_one_repeated_clip():
    k = 7
    balanced = one_hot(np.arange(700) % k, k) * 0.999 + 0.001 / k
    assert M.inception_score(balanced) == pytest.approx(k, rel=0.02)
    repeated = np.tile(balanced[:1], (700, 1))  # the same clip 700 times
    assert M.inception_score(repeated) == pytest.approx(1.0, abs=1e-9)
    unsure = np.full((700, k), 1 / k)  # every clip a shrug: no class is clear
    assert M.inception_score(unsure) == pytest.approx(1.0, abs=1e-9)
    # two of the seven classes only: IS -> 2
    assert M.inception_score(balanced[np.arange(700) % k < 2]) == pytest.approx(2, rel=0.02)


def test_modified_inception_score_is_the_mean_pairwise_kl_and_1_without_diversity():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=9)
    brute = np.mean([np.sum(a * np.log(a / b)) for a, b in itertools.product(p, p)])
    assert M.modified_inception_score(p) == pytest.approx(np.exp(brute), rel=1e-9)
    assert M.modified_inception_score(np.tile(p[:1], (9, 1))) == pytest.approx(1.0)


def test_am_score_is_low_for_matching_confident_sets_and_high_for_collapse():
    k = 5
    ref = one_hot(np.arange(500) % k, k) * 0.98 + 0.02 / k
    matching = ref[::-1].copy()
    collapsed = np.tile(ref[:1], (500, 1))
    entropy = -np.sum(ref[0] * np.log(ref[0]))
    assert M.am_score(matching, ref) == pytest.approx(entropy, abs=1e-9)  # KL term vanishes
    # collapse: KL(uniform || p(y)) with p(y) the collapsed one-class marginal
    marg = ref[0]
    kl = np.sum(np.full(k, 1 / k) * np.log((1 / k) / marg))
    assert M.am_score(collapsed, ref) == pytest.approx(kl + entropy, rel=1e-6)
    assert M.am_score(collapsed, ref) > M.am_score(matching, ref) + 1


# -- NDB -------------------------------------------------------------------------------------------

def _mixture(rng, n, weights):
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6], [3, 10]], dtype=float)
    comp = rng.choice(len(weights), n, p=weights)
    return centres[comp] + rng.normal(size=(n, 2))


def test_ndb_finds_few_different_bins_for_the_same_distribution_and_many_for_a_collapsed_one():
    rng = np.random.default_rng(3)
    uniform = np.full(5, 0.2)
    train = _mixture(rng, 2000, uniform)
    same = M.ndb(_mixture(rng, 1000, uniform), train, k=10)
    collapsed = M.ndb(_mixture(rng, 1000, np.array([1.0, 0, 0, 0, 0])), train, k=10)
    assert same["k"] == 10 and same["ndb_k"] <= 0.2, same
    assert collapsed["ndb_k"] >= 0.7, collapsed  # every bin outside the one mode is empty


# -- reconstruction -------------------------------------------------------------------------------

def test_mrstft_distance_is_zero_for_identical_clips_grows_with_noise_and_matches_auraloss():
    auraloss = require("auraloss")
    rng = np.random.default_rng(4)
    x = torch.from_numpy(make_example(1, 0)[0][:8000]).float()[None]  # a sawtooth note
    assert float(M.mrstft_distance(x, x)) == pytest.approx(0, abs=1e-6)
    d = [float(M.mrstft_distance(x, x + s * torch.from_numpy(rng.normal(size=x.shape)).float()))
         for s in (0.001, 0.01, 0.1)]
    assert d[0] < d[1] < d[2]
    y = x + 0.05 * torch.from_numpy(rng.normal(size=x.shape)).float()
    ours = float(M.mrstft_distance(x, y))
    ffts = [r[0] for r in M.RESOLUTIONS]
    hops = [r[1] for r in M.RESOLUTIONS]
    theirs = auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=ffts, hop_sizes=hops, win_lengths=ffts)
    # auraloss(input, target): spectral convergence is normalised by the target - our reference x
    assert ours == pytest.approx(float(theirs(y[:, None], x[:, None])), rel=1e-5)


def test_spectral_convergence_is_the_linear_half_of_mrstft():
    auraloss = require("auraloss")
    x = torch.from_numpy(make_example(1, 0)[0][:8000]).float()[None]
    # || 0.5 |X| - |X| || / || |X| || = 0.5 exactly, at every resolution (no bin is at the floor)
    assert M.spectral_convergence(x, 0.5 * x) == pytest.approx(0.5, rel=1e-4)
    y = x + 0.05 * torch.from_numpy(np.random.default_rng(5).normal(size=x.shape)).float()
    ffts, hops = [r[0] for r in M.RESOLUTIONS], [r[1] for r in M.RESOLUTIONS]
    theirs = auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=ffts, hop_sizes=hops, win_lengths=ffts,
                                                   w_log_mag=0.0, w_sc=1.0)
    assert M.spectral_convergence(x, y) == pytest.approx(float(theirs(y[:, None], x[:, None])), rel=1e-5)
    # the log half is what hiss in silent bins costs: tiny noise barely moves SC and moves MR-STFT a lot
    quiet = x + 1e-3 * torch.from_numpy(np.random.default_rng(6).normal(size=x.shape)).float()
    assert M.spectral_convergence(x, quiet) < 0.02 < float(M.mrstft_distance(x, quiet)) - 0.5


def test_log_spectral_distance_of_a_gain_change_is_its_size_in_db():
    x = make_example(1, 0)[0][:8000]
    assert M.log_spectral_distance(x, x) == pytest.approx(0, abs=1e-6)
    # halving the amplitude lowers every bin's power by 20 log10(2) = 6.02 dB (where not at the floor)
    assert M.log_spectral_distance(x, 0.5 * x) == pytest.approx(20 * np.log10(2), rel=0.01)


# -- pitch -----------------------------------------------------------------------------------------

def test_pitch_accuracy_hears_the_asked_notes_and_not_wrong_ones():
    examples = [make_example(i, 0) for i in range(20) if i % 5 < 3][:6]  # sine, saw, square notes
    clips = np.stack([audio for audio, _ in examples])
    pitches = np.array([labels["pitch"] for _, labels in examples])
    assert M.pitch_accuracy(clips, 16000, pitches)["pitch_accuracy"] >= 5 / 6
    assert M.pitch_accuracy(clips, 16000, pitches + 3)["pitch_accuracy"] <= 1 / 6
