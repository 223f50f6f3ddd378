"""Load benchmark: drives a running server over HTTP streaming and reports what clients observe."""
