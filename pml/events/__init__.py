"""Change events: every committed list change leaves an outbox row (written by the database in the change's
own transaction); the relay publishes the rows to Redis Streams in order per patient and delivers them to the
registered webhooks, signed, retried with backoff and dead-lettered after a number of tries."""
