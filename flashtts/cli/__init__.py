"""The ``flashtts`` command (:mod:`.main`: serve, synth, roles, engines, download, dev), ``flashtts bench``
(:mod:`.bench`), CosyVoice's client (:mod:`.client`) and the container's health check (:mod:`.healthcheck`)."""
