"""Generated gRPC code for protos/callbot/v1 (built by `make proto`; never edit by hand)."""
