"""Call records to sinks (JSONL, RabbitMQ)."""
