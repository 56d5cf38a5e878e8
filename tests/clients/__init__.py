"""Client replays: each module sends what one real CalDAV client sends, in its order, starting
from exactly what `praxis-caldav urls` prints for the practitioner, and asserts what that
client needs. Shared helpers (deployments, the prefix proxy, the recording device) are in
`replay.py`; `conftest.py` starts each deployment once per module.
"""
