"""gRPC service, session manager, health, metrics and auth."""
