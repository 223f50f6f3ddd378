"""Voices: the role store on disk (:mod:`.registry`), voice-name matching and the stock voices' traits
(:mod:`.matching`), and mixes of built-in voices (:mod:`.mixing`)."""
