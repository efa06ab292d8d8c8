"""Test support: the emulated cluster, the real LiteLLM proxy, fake LLM backends.

HANG_GUARD_SECONDS bounds every subprocess a test runs. It only catches a command that
hangs: tests wait on conditions, so it is far longer than any run on a loaded machine
(`make stress` runs the suite with every core busy).
"""

HANG_GUARD_SECONDS = 3600
