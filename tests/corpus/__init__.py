"""Inputs built at test time (nothing large is committed): see `make_bad_inputs`."""
