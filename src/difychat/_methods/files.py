"""File upload and preview, speech-to-text and text-to-speech."""

from __future__ import annotations

from difychat import _endpoints as E
from difychat._byte_stream import AsyncByteStream, ByteStream
from difychat._calls import FileInput
from difychat._io import AsyncCore, SyncCore
from difychat.types.files import FileContent, UploadedFile


class FileMethods(SyncCore):
    def upload_file(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> UploadedFile:
        """Upload a file (a path, bytes, or a binary file object) to attach to messages.

        The name defaults to the path's or file object's name, the type is guessed from it.

        Example::

            uploaded = client.upload_file("report.pdf", user="alice")
            client.send_message("Summarise it", user="alice", files=[uploaded])
        """
        call = E.upload_file(
            file, filename=filename, mime_type=mime_type, user=self._resolve_user(user, required=False)
        )
        return self._request(call, api_key)

    def file_preview(
        self,
        file_id: str,
        *,
        as_attachment: bool = False,
        user: str | None = None,
        api_key: str | None = None,
    ) -> FileContent:
        """Download a file that was sent in one of this app's messages.

        Example::

            preview = client.file_preview(uploaded.id)
            Path(preview.filename or "file").write_bytes(preview.content)
        """
        call = E.file_preview(
            file_id, as_attachment=as_attachment, user=self._resolve_user(user, required=False)
        )
        return self._request(call, api_key)

    def audio_to_text(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """Transcribe audio (mp3, m4a, wav, amr, mpga) and return the text.

        The type sent is ``audio/<extension>``, the only form Dify accepts.

        Example::

            text = client.audio_to_text("question.mp3", user="alice")
        """
        call = E.audio_to_text(
            file, filename=filename, mime_type=mime_type, user=self._resolve_user(user, required=False)
        )
        return self._request(call, api_key)

    def text_to_audio(
        self,
        *,
        text: str | None = None,
        message_id: str | None = None,
        voice: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> bytes:
        """Speak ``text``, or a stored answer by ``message_id``; returns the audio (MP3) bytes.

        Example::

            Path("hello.mp3").write_bytes(client.text_to_audio(text="Hello!", user="alice"))
        """
        body = E.text_to_audio_body(
            text=text, message_id=message_id, voice=voice, user=self._resolve_user(user, required=False)
        )
        return self._request(E.text_to_audio(body), api_key)

    def text_to_audio_stream(
        self,
        *,
        text: str | None = None,
        message_id: str | None = None,
        voice: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ByteStream:
        """Like :meth:`text_to_audio`, but yields the audio in chunks as it is produced.

        Example::

            with client.text_to_audio_stream(text="Hello!", user="alice") as audio:
                for chunk in audio:
                    player.feed(chunk)
        """
        body = E.text_to_audio_body(
            text=text, message_id=message_id, voice=voice, user=self._resolve_user(user, required=False)
        )
        return ByteStream(self._open(E.text_to_audio_stream(body), api_key))


class AsyncFileMethods(AsyncCore):
    async def upload_file(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> UploadedFile:
        """Upload a file (a path, bytes, or a binary file object).

        Example::

            uploaded = await client.upload_file(b"hello", filename="hello.txt", user="alice")
        """
        call = E.upload_file(
            file, filename=filename, mime_type=mime_type, user=self._resolve_user(user, required=False)
        )
        return await self._request(call, api_key)

    async def file_preview(
        self,
        file_id: str,
        *,
        as_attachment: bool = False,
        user: str | None = None,
        api_key: str | None = None,
    ) -> FileContent:
        """Download a file that was sent in one of this app's messages.

        Example::

            preview = await client.file_preview(uploaded.id)
        """
        call = E.file_preview(
            file_id, as_attachment=as_attachment, user=self._resolve_user(user, required=False)
        )
        return await self._request(call, api_key)

    async def audio_to_text(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """Transcribe audio and return the text.

        Example::

            text = await client.audio_to_text("question.wav", user="alice")
        """
        call = E.audio_to_text(
            file, filename=filename, mime_type=mime_type, user=self._resolve_user(user, required=False)
        )
        return await self._request(call, api_key)

    async def text_to_audio(
        self,
        *,
        text: str | None = None,
        message_id: str | None = None,
        voice: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> bytes:
        """Speak ``text`` (or a stored answer by ``message_id``); returns MP3 bytes.

        Example::

            audio = await client.text_to_audio(text="Hello!", user="alice")
        """
        body = E.text_to_audio_body(
            text=text, message_id=message_id, voice=voice, user=self._resolve_user(user, required=False)
        )
        return await self._request(E.text_to_audio(body), api_key)

    async def text_to_audio_stream(
        self,
        *,
        text: str | None = None,
        message_id: str | None = None,
        voice: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> AsyncByteStream:
        """Like :meth:`text_to_audio`, but yields the audio in chunks.

        Example::

            async with await client.text_to_audio_stream(text="Hi", user="alice") as audio:
                async for chunk in audio:
                    player.feed(chunk)
        """
        body = E.text_to_audio_body(
            text=text, message_id=message_id, voice=voice, user=self._resolve_user(user, required=False)
        )
        return AsyncByteStream(await self._open(E.text_to_audio_stream(body), api_key))
