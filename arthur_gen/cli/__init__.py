"""The ``arthur-gen`` command line: one module per concern, each adding its subcommands."""
