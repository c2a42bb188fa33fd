"""Contact-center domain: agents, queues, ACD, tickets, PIN checks.

Nothing in this package imports Flask or Asterisk code; it is plain Python and
is unit-tested on its own.
"""
