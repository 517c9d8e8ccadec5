"""retort.plugins: built-in plugins, registered through the same hooks a third party uses."""

__all__: list[str] = []
