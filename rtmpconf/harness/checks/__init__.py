"""Checkers: pure functions from a wire log (and scenario facts) to findings with rule IDs.

Every checker accepts every legal outcome and, on a violation, says expected vs actual with
evidence (byte offsets, message indexes) a server author can act on.
"""
