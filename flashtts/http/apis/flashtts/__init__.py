"""FlashTTS's own API: ``/clone_voice``, ``/speak``, ``/multi_speak`` and role management."""
