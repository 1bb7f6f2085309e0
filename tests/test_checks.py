"""genlearn._checks: the one validation vocabulary, and the argparse types made from it."""

import argparse

import pytest
import torch

from genlearn._checks import (argparse_type, check_batch, check_choice, check_learning_rate, check_positive,
                              check_positive_int, check_range)


def test_checks_return_what_they_accept_and_name_what_came():
    assert check_positive_int("n", 3) == 3 and check_positive_int("n", 3.0) == 3
    assert check_positive_int("seed", 0, allow_zero=True) == 0
    assert check_positive("span", 2) == 2.0 and check_learning_rate("lr", 1e-3) == 1e-3
    assert check_range("k", 5, 1, 5) == 5 and check_choice("loss", "hinge", ("hinge",)) == "hinge"
    for call, message in [
        (lambda: check_positive_int("n", 0), "n must be >= 1, got 0"),
        (lambda: check_positive("span", float("nan")), "span must be a finite number > 0"),
        (lambda: check_positive("span", -1), "span must be > 0, got -1"),
        (lambda: check_learning_rate("lr_g", 1.5), r"lr_g must be a learning rate in \(0, 1\), got 1.5"),
        (lambda: check_range("n_steps", 30, 2, 20), "n_steps must be between 2 and 20, got 30"),
        (lambda: check_range("n_steps", True, 0, 20), "n_steps must be between"),
        (lambda: check_choice("loss", "ls", ("hinge", "minimax")), "unknown loss 'ls': expected one of 'hinge', 'minimax'"),
        (lambda: check_batch("x", torch.zeros(3, 8)), r"x must be a tensor of images \(N, C, H, W\), got \(3, 8\)"),
        (lambda: check_batch("x", torch.zeros(3, 2, 2), (1, 2, 2)), r"x must have shape \(B, 1, 2, 2\), got \(3, 2, 2\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="n must be an integer, got 2.5"):
        check_positive_int("n", 2.5)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_batch("x", [1, 2], (2,))


def test_argparse_types_say_what_the_checks_say():
    steps = argparse_type(check_positive_int, "steps")
    assert steps("12") == 12
    with pytest.raises(argparse.ArgumentTypeError, match="steps must be >= 1, got -5"):
        steps("-5")
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer, got 'x'"):
        steps("x")
    seconds = argparse_type(check_positive, "max_seconds", float, "a number")
    assert seconds("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match="max_seconds must be > 0"):
        seconds("0")


def test_at_least_fraction_and_number_accept_their_range_and_name_what_came():
    import numpy as np

    from genlearn._checks import check_at_least, check_fraction, check_number

    assert check_at_least("n", 2, 2) == 2 and check_at_least("n", np.int64(9), 8) == 9
    assert check_fraction("p", 0) == 0.0 and check_fraction("p", 1, "(]") == 1.0
    assert check_fraction("p", np.float32(0.5), "()") == 0.5
    assert check_number("var", -3) == -3.0 and check_number("nu", 2.5, above=2) == 2.5
    for call, message in [
        (lambda: check_at_least("size", 6, 8, "tiles", "two rooms side by side"),
         r"size must be >= 8 tiles \(two rooms side by side\), got 6"),
        (lambda: check_at_least("n", 1, 2), "n must be >= 2, got 1"),
        (lambda: check_fraction("p", 1.5), r"p must be a number in \[0, 1\], got 1.5"),
        (lambda: check_fraction("level", 1, "()", "a probability"), r"level must be a probability in \(0, 1\), got 1"),
        (lambda: check_fraction("copy_ratio", 0, "(]"), r"copy_ratio must be a number in \(0, 1\], got 0"),
        (lambda: check_fraction("rate", 0, "[)"), None),
        (lambda: check_fraction("rate", 1, "[)"), r"rate must be a number in \[0, 1\), got 1"),
        (lambda: check_fraction("p", True), "p must be a number in"),
        (lambda: check_fraction("p", float("nan")), "got nan"),
        (lambda: check_fraction("p", "0.5"), "got '0.5'"),
        (lambda: check_fraction("p", 0.5, "[["), "interval must be one of"),
        (lambda: check_number("nu", 2, above=2, why="finite variance"),
         r"nu must be a finite number > 2 \(finite variance\), got 2"),
        (lambda: check_number("var", float("inf"), why="a loss level"), r"var must be a finite number \(a loss level\)"),
        (lambda: check_number("var", False), "var must be a finite number, got False"),
    ]:
        if message is None:
            assert call() == 0.0
            continue
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="n must be an integer, got True"):
        check_at_least("n", True, 0)
