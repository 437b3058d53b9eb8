"""Evaluation helpers for Verbatim: retrieval/answer metrics and benchmark loaders."""
