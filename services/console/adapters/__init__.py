"""The console's edges: gRPC clients of workorders and leakdetect, the users file (argon2), token
signing (workorders' token format), the clock."""
