"""chainrule's pictures and command line, built on :mod:`engine` and :mod:`nn`."""
