"""The fault-injection suite: real processes on real servers, one fault at a time.

``harness.py`` starts a whole Hangar Bay per scenario (its own PostgreSQL, NATS JetStream and
Redis, the ESI simulator, and the fetcher, persister and API as separate OS processes), injects
faults and checks the invariants against the simulator's truth. ``test_faults.py`` holds the
scenarios, ``test_bad_input.py`` the hostile-input corpus. See ``docs/RELIABILITY.md``.
"""
