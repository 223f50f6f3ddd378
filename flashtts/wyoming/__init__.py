"""Home Assistant's Wyoming protocol: the server (:mod:`.server`) and its bounded event framing
(:mod:`.events`)."""
