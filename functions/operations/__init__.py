"""The operations API: queues, dead letters, parked work, the breaker, replays, health."""
