"""The image's HEALTHCHECK asks the server the container's FLASHTTS_* settings describe (flashtts/cli/healthcheck.py);
it runs for real in tests/container."""

from __future__ import annotations

import pytest

from flashtts.cli.healthcheck import target


@pytest.mark.parametrize("env, url, host", [
    ({}, "http://127.0.0.1:8000/health", "127.0.0.1"),
    ({"FLASHTTS_HOST": "0.0.0.0", "FLASHTTS_PORT": "9000"}, "http://127.0.0.1:9000/health", "127.0.0.1"),
    ({"FLASHTTS_HOST": "::1"}, "http://[::1]:8000/health", "::1"),
    ({"FLASHTTS_HOST": "0.0.0.0", "FLASHTTS_ALLOWED_HOSTS": "tts.example.com,other"},
     "http://127.0.0.1:8000/health", "tts.example.com"),
    ({"FLASHTTS_HOST": "::", "FLASHTTS_ALLOWED_HOSTS": "*.example.com"}, "http://127.0.0.1:8000/health",
     "health.example.com"),
    ({"FLASHTTS_ALLOWED_HOSTS": "localhost,tts.example.com"}, "http://127.0.0.1:8000/health", "127.0.0.1"),
])
def test_target_follows_the_servers_settings(env, url, host):
    assert target(env) == (url, host)
