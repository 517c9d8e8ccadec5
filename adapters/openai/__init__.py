"""retort.adapters.openai: a transport for OpenAI-compatible chat-completion servers.

``OpenAITransport(base_url, api_key=None, model=...)`` posts to
``{base_url}/chat/completions`` (``/v1`` added to a base URL without a path), with tools
and response formats passed natively, retries with back-off under a total deadline, and
typed errors. The plugin module ``retort.adapters.openai._plugin`` registers it as
``"openai"``.
"""

from retort.adapters._http_support import RetryPolicy
from retort.adapters.openai._transport import OpenAITransport

__all__ = ["OpenAITransport", "RetryPolicy"]
