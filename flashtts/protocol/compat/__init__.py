"""Request and response models of the APIs flashtts stands in for (see ``docs/compat.md``)."""
