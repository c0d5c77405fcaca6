"""The classroom walkthrough runs end to end (shortened) and shows what it claims to show."""

import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clustertheory.plotting import animate_relaxed_codes

WALKTHROUGH = Path(__file__).resolve().parents[1] / "classroom" / "walkthrough.py"


def test_walkthrough_runs_and_writes_its_pictures(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLASSROOM_QUICK", "1")
    monkeypatch.setenv("CLASSROOM_OUT", str(tmp_path))
    namespace = runpy.run_path(str(WALKTHROUGH), run_name="__main__")
    for name in ("augmentation_graph.png", "bounded_vs_unrestricted.png", "training_animation.gif"):
        assert (tmp_path / name).stat().st_size > 1000
    # the walkthrough's message: the unrestricted table splits clusters, the bounded class mostly not
    assert namespace["split_free"] > namespace["split_bounded"]
    assert Image.open(tmp_path / "training_animation.gif").n_frames == len(namespace["frames"])


def test_animation_ends_at_the_vertices_it_was_given(tmp_path):
    content = np.array([0, 1, 2, 3])
    start = np.zeros((4, 2))
    end = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
    path = animate_relaxed_codes([start, end], [0, 10], content, tmp_path / "a.gif")
    assert Image.open(path).n_frames == 2
    with pytest.raises(ValueError, match="frames"):
        animate_relaxed_codes([np.zeros((4, 3))], [0], content, tmp_path / "b.gif")
