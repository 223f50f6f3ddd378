"""Scale-out: the same app as Ray Serve replicas behind Ray's proxy (:mod:`.ray_serve`)."""
