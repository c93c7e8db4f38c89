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


def test_ctrl_c_while_the_command_is_still_loading_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # Seen on a loaded box: Ctrl-C in the first seconds, while a sub-command's modules were imported.
    import bulk.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bulk.cli, "build_parser", interrupted)
    assert bulk.cli.main(["submit", "x.csv"]) == bulk.cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err.startswith("bulk: interrupted;") and err.count("\n") == 1 and "Traceback" not in err
