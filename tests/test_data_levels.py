"""The game levels of lesson 13: rooms and corridors, all playable, and a path check that finds
the shortest route or says there is none."""

import pytest
import torch

from genlearn import data
from genlearn.data.levels import levels, path_lengths, playable


def test_levels_are_binary_playable_and_deterministic_by_seed():
    a, b, c = levels(300, seed=1), levels(300, seed=1), levels(300, seed=2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)
    assert a.shape == (1, 12, 12) and set(a.x.unique().tolist()) == {0.0, 1.0}
    assert torch.all(a.x[:, 0, 0, 0] == 1) and torch.all(a.x[:, 0, -1, -1] == 1), "start and goal are floor"
    assert bool(playable(a.x).all()), "every level is playable by construction"
    lengths = path_lengths(a.x)
    assert int(lengths.min()) >= 22, "no route is shorter than the Manhattan distance 2 x 11"
    assert float((lengths > 22).float().mean()) > 0.02, "some routes must detour"
    assert set(a.y.tolist()) == {0, 1, 2} and a.class_names == ("3 rooms", "4 rooms", "5 rooms")
    floor = a.x.mean((1, 2, 3))
    assert 0.15 < float(floor.min()) and float(floor.max()) < 0.8, "levels are neither solid rock nor open fields"
    assert len({tuple(x.flatten().tolist()) for x in a.x}) == 300
    assert levels(5, seed=0, size=20).shape == (1, 20, 20)


def test_path_lengths_are_shortest_routes_and_minus_one_where_blocked():
    open_field = torch.ones(1, 1, 6, 6)
    border = torch.zeros(6, 6)
    border[0, :] = 1
    border[:, -1] = 1                      # along the top, then down the right side
    detour = torch.zeros(6, 6)
    detour[:, 0] = 1
    detour[-1, :3] = 1
    detour[:, 2] = 1
    detour[0, 2:] = 1
    detour[:, -1] = 1                      # down, right, up, right, down: 5 + 2 + 5 + 3 + 5 = 20 steps
    blocked = border.clone()
    blocked[3, -1] = 0
    walled_in = torch.ones(6, 6)
    walled_in[0, 0] = 0                    # the start tile is a wall
    diagonal_only = torch.eye(6)           # corners touch, edges do not: no path
    batch = torch.stack([open_field[0, 0], border, detour, blocked, walled_in, diagonal_only])
    assert path_lengths(batch).tolist() == [10, 10, 20, -1, -1, -1]
    assert path_lengths(batch[:, None]).tolist() == path_lengths(batch).tolist(), "(N, H, W) or (N, 1, H, W)"
    assert playable(batch).tolist() == [True, True, True, False, False, False]
    # probabilities (a model's output) are read at the threshold
    assert playable(border[None] * 0.6).tolist() == [True]
    assert playable(border[None] * 0.6, threshold=0.7).tolist() == [False]
    assert path_lengths(torch.ones(1, 1, 1, 1)).tolist() == [0]


def test_levels_check_their_arguments():
    with pytest.raises(ValueError, match=r"size must be >= 8 tiles \(two rooms side by side\), got 6"):
        levels(10, size=6)
    with pytest.raises(ValueError, match="one channel"):
        path_lengths(torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match="finite"):
        path_lengths(torch.full((1, 1, 8, 8), float("nan")))
    assert path_lengths(torch.ones(2, 1, 4, 4, dtype=torch.bool)).tolist() == [6, 6], "booleans are floor / wall"
    with pytest.raises(ValueError):
        levels(0)
    assert len(data.load("levels", "test", n=20)) == 20
