"""Text to speakable segments: the one sentence cutter HTTP and the live paths use (:mod:`.sentences`),
reading as a person would (:mod:`.normalize`, :mod:`.numbers`), writing systems (:mod:`.scripts`), language
names (:mod:`.languages`) and the characters no text may hold (:mod:`.characters`)."""
