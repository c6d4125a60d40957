"""One click command per module; see `w2s_lf.cli.COMMANDS`."""
