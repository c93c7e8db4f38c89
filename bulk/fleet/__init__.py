"""Many processes on many machines: the worker loop (:mod:`.worker`), its Prometheus metrics
(:mod:`.metrics`), the ``bulk status`` snapshot (:mod:`.status`) and the cron inbox (:mod:`.inbox`)."""
