"""stackcheck: verify a Kubernetes observability stack (Prometheus, Linkerd, Bookinfo)."""
