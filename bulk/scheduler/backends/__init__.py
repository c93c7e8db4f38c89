"""Where the scheduler's shared state lives: in this process (:mod:`.inprocess`, the default) or in Redis
(:mod:`.redis_backend`, Lua scripts in ``lua/``, every key built in :mod:`.keys`) for a fleet."""
