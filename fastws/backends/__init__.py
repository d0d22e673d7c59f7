"""Backends that carry :class:`fastws.Topics` messages between processes and hosts.

``fastws.backends.redis.RedisHub``: Redis Pub/Sub for live messages, one Redis
Stream per topic for history and resume (``pip install 'fastws[redis]'``).
"""
