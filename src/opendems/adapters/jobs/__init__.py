"""Job delivery: a broker (Celery) hands job ids to workers; the jobs table keeps their state."""
