"""What the daemon says about its health and load: component states behind ``/health``
(:mod:`.health`) and the Prometheus metrics behind ``/metrics`` (:mod:`.metrics`). Every
service reports into them; the server serves them."""
