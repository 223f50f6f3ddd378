"""Developer tools, and the helpers tests and benchmarks share (:mod:`.live_server`); not shipped in the
flashtts package."""
