"""The simulated stack: a Kubernetes API server, controllers, endpoints and a real Prometheus."""
