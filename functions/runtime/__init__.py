"""Thin entry points that run registered functions: inline threads, Dramatiq actors, AWS Lambda.

Each one moves JSON bytes through ``functions.envelope.execute``; none knows any function.
Import the submodule you need: they pull in different libraries.
"""
