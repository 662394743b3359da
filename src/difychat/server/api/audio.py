"""POST /audio-to-text and POST /text-to-audio."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from difychat.server.api.context import Services, authenticate
from difychat.server.api.described import AUDIO, AUDIO_TAG, Reply, describe
from difychat.server.api.files import FILE_PART, USER_FIELD
from difychat.server.api.ids import known_id
from difychat.server.api.multipart_audio import AudioForm, UploadedAudio, read_audio_form
from difychat.server.api.parsing import json_body, user_of, validate
from difychat.server.api.responses import JSON
from difychat.server.api.schemas import TextToAudioPayload
from difychat.server.api.wire import audio as wire
from difychat.server.domain.apps import App
from difychat.server.errors import (
    MESSAGE_NOT_EXISTS,
    AudioTooLarge,
    BadRequestKeyError,
    InvalidParam,
    NotFound,
    UnsupportedAudioType,
)
from difychat.server.services.audio import AUDIO_MAX_BYTES, AUDIO_TYPES

ALLOWED_AUDIO_MIMETYPES = frozenset(f"audio/{ext}" for ext in AUDIO_TYPES)
AUDIO_FORM = {"type": "object", "properties": {"file": FILE_PART, "user": USER_FIELD}, "required": ["file"]}
# A message whose answer has no text yet is read as nothing: JSON null.
NO_SPEECH = Reply(200, shape={"type": "null"}, description="Null for a message without an answer.")


@describe(
    "Speech to text",
    AUDIO_TAG,
    description="An audio `file` (mp3, m4a, wav, amr or mpga) to its transcript.",
    form=AUDIO_FORM,
    response=wire.Transcript,
)
async def audio_to_text(request: Request) -> Response:
    svc, app = await authenticate(request)
    svc.audio.check_speech_to_text(app)
    form = await read_audio_form(request, AUDIO_MAX_BYTES)
    upload = checked_audio(form)
    await svc.end_users.resolve(app, form.user, required=False)
    text = await svc.audio.transcribe(app, bytes(upload.data), upload.filename, upload.content_type)
    return JSON(wire.transcript(text))


def checked_audio(form: AudioForm) -> UploadedAudio:
    """The form's audio file, refused as the contract says when missing, of another type or too large."""
    upload = form.file
    if upload is None:
        raise BadRequestKeyError()
    if upload.content_type not in ALLOWED_AUDIO_MIMETYPES:
        raise UnsupportedAudioType()
    if form.file_too_large:
        raise AudioTooLarge()
    return upload


@describe(
    "Text to speech",
    AUDIO_TAG,
    description="`text`, or the answer of `message_id`, read aloud and streamed as MP3.",
    body=TextToAudioPayload,
    user="optional",
    media=AUDIO,
    response_description="MP3 audio.",
    replies=(NO_SPEECH,),
)
async def text_to_audio(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    user = user_of(data)
    payload = validate(TextToAudioPayload, data)
    if payload.message_id:
        message_id = known_id(payload.message_id, NotFound, MESSAGE_NOT_EXISTS)
        end_user_id = await svc.end_users.find(app, user)
        text = await svc.audio.answer_text(end_user_id, message_id)
        if text is None:
            return JSON(None)
    elif payload.text:
        text = payload.text
    else:
        raise InvalidParam("Text is required")
    return await speech(svc, app, text, payload.voice)


async def speech(svc: Services, app: App, text: str, voice: str | None) -> Response:
    """``text`` read aloud, streamed as MP3."""
    audio = await svc.audio.synthesize(app, text, voice)
    # Pull the first chunk here, so an upstream failure is still a JSON error.
    try:
        first = await anext(audio)
    except StopAsyncIteration:
        first = b""
    return StreamingResponse(_relay(first, audio), media_type="audio/mpeg")


async def _relay(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        aclose = getattr(rest, "aclose", None)
        if aclose is not None:
            await aclose()
