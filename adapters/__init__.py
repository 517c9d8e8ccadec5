"""retort.adapters: everything that does I/O or wraps an agent framework.

One subpackage per adapter (proxy, openai, native, autogen, replay, cli); each names the
extra it needs in the ImportError raised when that extra is missing.
"""

__all__: list[str] = []
