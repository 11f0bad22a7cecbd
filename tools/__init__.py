"""Maintainer tooling (executing, previewing and timing the lessons); not shipped to learners."""
