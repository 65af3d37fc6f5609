"""HTTP routes of the sandbox.

``spot`` (market, bids, instances), ``pricing``, ``account`` (profile, projects,
keys, volumes, quotas) and ``admin`` (the ``/_sandbox/`` controls).
"""
