"""Thin route modules: parse the protocol model, call the serving layer, return its response."""

from fastapi import Request, UploadFile

from flashtts.errors import TooLargeError
from flashtts.serving import SpeechService


def get_service(request: Request) -> SpeechService:
    return request.app.state.service


async def read_upload(service: SpeechService, upload: UploadFile | None, param: str) -> bytes | None:
    """Read an upload, refusing more than the configured limit without reading it all."""
    if upload is None:
        return None
    limit = service.config.limits.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(f"{param}: file is larger than {limit} bytes", param=param, code="file_too_large")
    return data or None
