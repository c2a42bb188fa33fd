"""Call flows as small state objects: ``enter`` and ``handle`` return the next
state (or None to stay)."""
