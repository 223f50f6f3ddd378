"""A role's pronunciations: ``GET``/``PUT``/``POST /roles/{name}/lexicon``, ``DELETE /roles/{name}/lexicon/{word}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from flashtts.http.apis import get_service
from flashtts.http.apis.phonemes.protocol import Pronunciation, RoleLexicon, RoleLexiconUpdate
from flashtts.http.auth import require_api_key
from flashtts.serving import SpeechService
from flashtts.serving.role_lexicon import entries_of
from flashtts.ssml import Entry

router = APIRouter(prefix="/roles/{name}/lexicon", tags=["roles"], dependencies=[Depends(require_api_key)])


def _answer(name: str, entries: list[Entry]) -> RoleLexicon:
    return RoleLexicon(role=name, entries=[Pronunciation(**e.as_json()) for e in entries])


@router.get("", response_model=RoleLexicon, response_model_exclude_none=True,
            summary="A role's pronunciations")
async def get_lexicon(name: str, service: SpeechService = Depends(get_service)) -> RoleLexicon:
    return _answer(name, await service.role_lexicons.get(name))


@router.put("", response_model=RoleLexicon, response_model_exclude_none=True,
            summary="Replace a role's pronunciations")
async def put_lexicon(name: str, body: RoleLexiconUpdate, service: SpeechService = Depends(get_service)) -> RoleLexicon:
    entries = entries_of([e.model_dump(exclude_none=True) for e in body.entries])
    return _answer(name, await service.role_lexicons.replace(name, entries))


@router.post("", response_model=RoleLexicon, response_model_exclude_none=True,
            summary="Add (or replace) one pronunciation of a role")
async def add_pronunciation(name: str, body: Pronunciation,
                            service: SpeechService = Depends(get_service)) -> RoleLexicon:
    entry = entries_of([body.model_dump(exclude_none=True)], "word")[0]
    return _answer(name, await service.role_lexicons.add(name, entry))


@router.delete("/{word}", response_model=RoleLexicon, response_model_exclude_none=True,
            summary="Delete one pronunciation of a role")
async def delete_pronunciation(name: str, word: str, service: SpeechService = Depends(get_service)) -> RoleLexicon:
    return _answer(name, await service.role_lexicons.delete(name, word))
