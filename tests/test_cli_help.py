"""`--help` of every subcommand reads cleanly."""

import pytest

from siamese_caffe import cli


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_help_never_shows_a_default_of_none(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
