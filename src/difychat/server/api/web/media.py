"""POST /api/files/upload, /api/audio-to-text and /api/text-to-audio, for the passport's end user."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.audio import NO_SPEECH, checked_audio, speech
from difychat.server.api.context import Services
from difychat.server.api.described import AUDIO, WEB_API, describe
from difychat.server.api.files import FILE_PART, receive_upload
from difychat.server.api.ids import known_id
from difychat.server.api.multipart_audio import read_audio_form
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON
from difychat.server.api.schemas import TextToAudioPayload
from difychat.server.api.web.context import web_route
from difychat.server.api.wire import audio as wire
from difychat.server.api.wire import files as files_wire
from difychat.server.errors import MESSAGE_NOT_EXISTS, InvalidParam, NotFound
from difychat.server.services.audio import AUDIO_MAX_BYTES
from difychat.server.services.web_sites import Passport

# The passport says who sends it: a ``user`` field is ignored.
FILE_FORM = {"type": "object", "properties": {"file": FILE_PART}, "required": ["file"]}


@describe("Upload a file", WEB_API, form=FILE_FORM, response=files_wire.Upload, status=201)
@web_route
async def upload_file(request: Request, svc: Services, passport: Passport) -> Response:
    async def owner(_user: str | None) -> str:
        return passport.end_user_id  # a ``user`` field is ignored: the passport says who uploads

    return await receive_upload(request, svc, passport.app, owner)


@describe("Speech to text", WEB_API, form=FILE_FORM, response=wire.Transcript)
@web_route
async def audio_to_text(request: Request, svc: Services, passport: Passport) -> Response:
    app = passport.app
    svc.audio.check_speech_to_text(app)
    upload = checked_audio(await read_audio_form(request, AUDIO_MAX_BYTES))
    text = await svc.audio.transcribe(app, bytes(upload.data), upload.filename, upload.content_type)
    return JSON(wire.transcript(text))


@describe(
    "Text to speech",
    WEB_API,
    body=TextToAudioPayload,
    media=AUDIO,
    response_description="MP3 audio.",
    replies=(NO_SPEECH,),
)
@web_route
async def text_to_audio(request: Request, svc: Services, passport: Passport) -> Response:
    payload = validate(TextToAudioPayload, await json_body(request, svc.max_json_body_bytes))
    if payload.message_id:
        message_id = known_id(payload.message_id, NotFound, MESSAGE_NOT_EXISTS)
        text = await svc.audio.answer_text(passport.end_user_id, message_id)
        if text is None:
            return JSON(None)
    elif payload.text:
        text = payload.text
    else:
        raise InvalidParam("Text is required")
    return await speech(svc, passport.app, text, payload.voice)
