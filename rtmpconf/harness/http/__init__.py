"""Harness side of the HTTP outputs: an HTTP client with a wire log and sans-IO parsers for
FLV-over-HTTP, MPEG-TS and M3U8, each producing its own record types for the checkers."""
