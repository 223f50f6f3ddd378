"""Every option defined once: ``ServeOptions`` and its command-line, environment and README projections
(:mod:`.options`), the settings the code reads (:mod:`.settings`), the compatibility launch options
(:mod:`.compat`), start-up checks (:mod:`.startup_checks`) and where the web page and roles live
(:mod:`.paths`)."""
