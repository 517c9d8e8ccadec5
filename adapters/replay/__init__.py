"""retort.adapters.replay: record a transport's traffic to a cassette; replay it offline.

```python
recorder = RecordingTransport(ProxyTransport(), "run.jsonl")   # real answers, recorded
replay = ReplayTransport("run.jsonl")                            # the same answers, offline
```

A cassette is a JSON-lines file, one exchange per line, keyed by a stable hash of the
request (its proxy-wire messages; model and temperature do not count), so a recording
made through any transport replays through any agent, and the reference proxy server's
replay backend reads the same files. See :mod:`retort.adapters.replay._cassette` for the
line format and :class:`ReplayTransport` for how repeated requests are answered.
"""

from retort.adapters.replay._cassette import VERSION, Cassette, CassetteError, Exchange
from retort.adapters.replay._transports import CassetteMiss, RecordingTransport, ReplayTransport

__all__ = [
    "VERSION",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "Exchange",
    "RecordingTransport",
    "ReplayTransport",
]
