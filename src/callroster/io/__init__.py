"""Asyncio adapters: sockets and timers around the pure protocol cores."""
