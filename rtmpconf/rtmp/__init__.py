"""Sans-IO RTMP core: bytes in, events out; events in, bytes out.

No sockets, no asyncio, no clocks: time is always an argument.
"""
