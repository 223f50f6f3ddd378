"""A role's pronunciation lexicon (``/roles/{name}/lexicon``)."""
