"""`verbatim --help` and each command's `--help` are enough to use the CLI without the README."""

from __future__ import annotations

import argparse

import pytest

from app.cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_lists_every_command_on_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in _commands():
        line = next(l for l in lines if l.strip().startswith(name + " "))
        following = lines[lines.index(line) + 1]
        assert following.strip() == "" or not following.startswith(" " * 10), f"{name}'s summary wraps"
    assert "examples:" in out and "verbatim COMMAND --help" in out


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_a_description_and_examples(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"verbatim {name}" in out.split("examples:")[1]
    description = out.split("\n\n")[1]
    assert len(description) > 40, f"{name} has no description"
    assert all(len(line) <= 120 for line in out.splitlines()), f"{name}'s help has lines longer than 120 columns"
