"""Admission control and live sessions (moving to flashtts.serving)."""
