"""chainrule's neural-network layer, built on :mod:`engine`."""
