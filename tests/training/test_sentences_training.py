"""Training dropout sentence encoders (clustertheory.training.sentences)."""

import numpy as np
import pytest
import torch

from clustertheory.data import SentenceSettings
from clustertheory.data.dropout import anisotropic_targets
from clustertheory.functions import EncoderSettings, embed
from clustertheory.training import sentences
from clustertheory.training.fitting import FitConfig

DATA = SentenceSettings(train_sentences=64, probe_sentences=24, content_dim=4, style_dim=4, obs_dim=12, hidden=16)  # as tests/analysis/test_sentences.py


def test_arms_fine_tuned_together_train_as_if_alone():
    seeds = [5, 6]
    drawn = [DATA.draw(s) for s in seeds]
    train_x = torch.stack([torch.as_tensor(t.obs) for t, _ in drawn])
    probe = [p for _, p in drawn]
    probe_x = torch.stack([torch.as_tensor(p.obs) for p in probe])
    settings = EncoderSettings(out_dim=6, width=16, depth=2, dropout=0.1, layer_norm=True)
    start = settings.build(DATA.obs_dim, seeds)
    fit = FitConfig(steps=4, lr=1e-2, batch_size=8)

    def tune(arms):
        return sentences.fine_tune_arms(start, settings, arms, seeds, train_x, probe_x, probe, fit, torch.Generator().manual_seed(0),
                                        temperature=0.1, checkpoints=(2, 4), noise_arms=(("simcse", 1.0),), noise_sources=("simcse", "off-dropout"), noise_draws=2)

    both = tune({("simcse", 1.0): [0, 1], ("off-dropout", 0.9): [1]})
    alone = tune({("simcse", 1.0): [0, 1]})
    assert [r["kind"] for r in both[("simcse", 1.0)][0]] == ["noise"] * 4 + ["final"]
    assert [r["kind"] for r in both[("off-dropout", 0.9)][0]] == ["final"]
    assert both[("simcse", 1.0)] == alone[("simcse", 1.0)]
    assert both[("off-dropout", 0.9)][0][0] != both[("simcse", 1.0)][1][-1]  # another loss, another result


def test_matched_share_gives_each_regulariser_its_share_at_the_start():
    seeds = [0, 1, 2]
    train_x = torch.stack([torch.as_tensor(DATA.draw(s)[0].obs) for s in seeds])
    model = EncoderSettings(out_dim=6, width=16, depth=2, dropout=0.1, layer_norm=True).build(DATA.obs_dim, seeds)
    barlow = {"barlow": lambda h, h_pos: (h - h_pos).pow(2).sum((1, 2)) + h.pow(2).mean((1, 2))}
    trained = sentences.fit_matched_share(model, train_x, ["infonce", "barlow", "barlow"], barlow, FitConfig(steps=3, batch_size=8),
                                          torch.Generator().manual_seed(0), temperature=0.1, share=0.3)
    assert trained["weight"][0] == 0 and trained["start_share"][0] == 0 and trained["end_share"][0] == 0  # InfoNCE alone
    assert trained["weight"][1] > 0 and trained["start_share"][1:] == pytest.approx([0.3, 0.3], abs=1e-5)
    assert all(0 < s < 1 for s in trained["end_share"][1:])
    with pytest.raises(ValueError, match="contiguous"):
        sentences.fit_matched_share(model, train_x, ["barlow", "infonce", "barlow"], barlow, FitConfig(steps=1, batch_size=8),
                                    torch.Generator(), temperature=0.1, share=0.3)


def test_pretrained_ensemble_moves_towards_its_anisotropic_targets():
    seeds = [3, 4]
    train = [DATA.draw(s)[0] for s in seeds]
    x = torch.stack([torch.as_tensor(t.obs) for t in train])
    targets = np.stack([anisotropic_targets(t.latent, 6, 0.6, seed=s) for t, s in zip(train, seeds)])
    settings = EncoderSettings(out_dim=6, width=16, depth=2, dropout=0.1, layer_norm=True)

    def error(model):
        return ((embed(model, x).numpy() - targets) ** 2).sum(-1).mean(-1)

    trained = sentences.pretrained_ensemble(settings, train, seeds, 0.6, FitConfig(steps=150, lr=3e-3, batch_size=32))
    assert (error(trained) < 0.5 * error(settings.build(DATA.obs_dim, seeds))).all()
