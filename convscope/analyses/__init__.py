"""Analyses: pure functions from a traced ``Graph`` to results. None of them runs torch."""
