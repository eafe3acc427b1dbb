"""Client conformance: the suite plays the server and judges RTMP clients (DESIGN.md, client mode).

``server`` is the scripted test server over the ``rtmp`` core, ``plugin`` the pytest fixture that
puts one agent (a real program or a simulated profile, ``harness/peers/agents.py``) in front of it
per case, ``cli`` is ``rtmpconf clients`` and ``matrix`` the agents x cases page.
"""
