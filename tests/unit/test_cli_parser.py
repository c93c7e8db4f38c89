"""Every sub-command ``bulk --help`` promises is registered (the modules are found by name)."""

from __future__ import annotations

import pytest

from bulk.cli import COMMAND_MODULES, build_parser


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_each_sub_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([name, "--help"])
    assert exit_.value.code == 0
    assert f"bulk {name}" in capsys.readouterr().out
