"""Signal outcomes in the daemon: followed over the rings as bars close (:mod:`.live`), each
trader's record (:mod:`.records`), stored and pushed by :func:`.service.run_outcomes`."""
