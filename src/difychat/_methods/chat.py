"""Chat messages, stopping, feedback, suggestions and history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from difychat import _endpoints as E
from difychat._io import AsyncCore, SyncCore
from difychat._streaming import AsyncChatStream, ChatStream
from difychat.types.chat import ChatFile, ChatMessage
from difychat.types.conversations import MessagePage
from difychat.types.files import UploadedFile

Rating = Literal["like", "dislike"]
FileArg = Sequence[ChatFile | UploadedFile | dict[str, Any]]


class ChatMethods(SyncCore):
    def send_message(
        self,
        query: str,
        *,
        user: str | None = None,
        inputs: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        files: FileArg | None = None,
        auto_generate_name: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> ChatMessage:
        """Send a message and wait for the whole answer (``response_mode: blocking``).

        Leave ``conversation_id`` out to start a conversation; pass the returned
        ``conversation_id`` to continue it. ``files`` takes :class:`ChatFile` items, uploaded
        files, or plain dicts. This call is never retried. Dify's agent apps refuse blocking
        answers (:class:`~difychat.BlockingModeNotSupportedError`); difychat serves them, and
        ``stream_message(...).collect()`` works with both.

        Example::

            reply = client.send_message("What is Dify?", user="alice")
            print(reply.answer)
            follow = client.send_message("And difychat?", user="alice", conversation_id=reply.conversation_id)
        """
        body = E.chat_message(
            query,
            user=self._require_user(user),
            inputs=inputs,
            conversation_id=conversation_id,
            files=files,
            auto_generate_name=auto_generate_name,
            streaming=False,
            extra_body=extra_body,
        )
        return self._request(E.send_message(body), api_key)

    def stream_message(
        self,
        query: str,
        *,
        user: str | None = None,
        inputs: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        files: FileArg | None = None,
        auto_generate_name: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> ChatStream:
        """Send a message and stream the answer as typed events (``response_mode: streaming``).

        Errors found before the answer starts are raised here; an ``error`` event is raised
        while iterating. Use the stream in a ``with`` block so the connection is always closed.

        Example::

            with client.stream_message("Tell me a story", user="alice") as stream:
                for text in stream.iter_text():
                    print(text, end="", flush=True)
            print(stream.conversation_id, stream.usage)
        """
        resolved = self._require_user(user)
        body = E.chat_message(
            query,
            user=resolved,
            inputs=inputs,
            conversation_id=conversation_id,
            files=files,
            auto_generate_name=auto_generate_name,
            streaming=True,
            extra_body=extra_body,
        )
        response = self._open(E.stream_message(body), api_key)

        def stop(task_id: str) -> None:
            self.stop_stream(task_id, user=resolved, api_key=api_key)

        return ChatStream(response, stop=stop)

    def stop_stream(self, task_id: str, *, user: str | None = None, api_key: str | None = None) -> None:
        """Stop a streaming answer by its ``task_id``; the stream then ends with ``message_end``.

        ``user`` must be the one that sent the message. ``ChatStream.stop()`` calls this for you.

        Example::

            client.stop_stream(stream.task_id, user="alice")
        """
        self._request(E.stop(task_id, user=self._require_user(user)), api_key)

    def message_feedback(
        self,
        message_id: str,
        rating: Rating | None,
        *,
        content: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> None:
        """Rate an answer ``"like"`` or ``"dislike"``; ``None`` revokes the user's rating.

        Example::

            client.message_feedback(reply.id, "like", content="Spot on", user="alice")
        """
        self._request(
            E.message_feedback(message_id, rating, user=self._require_user(user), content=content), api_key
        )

    def suggested_questions(
        self, message_id: str, *, user: str | None = None, api_key: str | None = None
    ) -> list[str]:
        """Follow-up questions the app suggests after an answer (needs the feature enabled).

        Example::

            for question in client.suggested_questions(reply.id, user="alice"):
                print("-", question)
        """
        return self._request(E.suggested_questions(message_id, user=self._require_user(user)), api_key)

    def messages(
        self,
        conversation_id: str,
        *,
        first_id: str | None = None,
        limit: int | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> MessagePage:
        """A page of a conversation's history, oldest first (the newest ``limit`` messages).

        For older messages pass ``first_id=page.data[0].id``.

        Example::

            page = client.messages(conversation_id, user="alice", limit=50)
            for message in page.data:
                print(message.query, "->", message.answer)
        """
        call = E.messages(
            conversation_id, user=self._resolve_user(user, required=False), first_id=first_id, limit=limit
        )
        return self._request(call, api_key)


class AsyncChatMethods(AsyncCore):
    async def send_message(
        self,
        query: str,
        *,
        user: str | None = None,
        inputs: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        files: FileArg | None = None,
        auto_generate_name: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> ChatMessage:
        """Send a message and wait for the whole answer. Never retried.

        Example::

            reply = await client.send_message("What is Dify?", user="alice")
        """
        body = E.chat_message(
            query,
            user=self._require_user(user),
            inputs=inputs,
            conversation_id=conversation_id,
            files=files,
            auto_generate_name=auto_generate_name,
            streaming=False,
            extra_body=extra_body,
        )
        return await self._request(E.send_message(body), api_key)

    async def stream_message(
        self,
        query: str,
        *,
        user: str | None = None,
        inputs: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        files: FileArg | None = None,
        auto_generate_name: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> AsyncChatStream:
        """Send a message and stream the answer as typed events.

        Example::

            async with await client.stream_message("Tell me a story", user="alice") as stream:
                async for text in stream.iter_text():
                    print(text, end="", flush=True)
        """
        resolved = self._require_user(user)
        body = E.chat_message(
            query,
            user=resolved,
            inputs=inputs,
            conversation_id=conversation_id,
            files=files,
            auto_generate_name=auto_generate_name,
            streaming=True,
            extra_body=extra_body,
        )
        response = await self._open(E.stream_message(body), api_key)

        async def stop(task_id: str) -> None:
            await self.stop_stream(task_id, user=resolved, api_key=api_key)

        return AsyncChatStream(response, stop=stop)

    async def stop_stream(self, task_id: str, *, user: str | None = None, api_key: str | None = None) -> None:
        """Stop a streaming answer by its ``task_id``.

        Example::

            await client.stop_stream(stream.task_id, user="alice")
        """
        await self._request(E.stop(task_id, user=self._require_user(user)), api_key)

    async def message_feedback(
        self,
        message_id: str,
        rating: Rating | None,
        *,
        content: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> None:
        """Rate an answer ``"like"`` or ``"dislike"``; ``None`` revokes the rating.

        Example::

            await client.message_feedback(reply.id, "dislike", user="alice")
        """
        call = E.message_feedback(message_id, rating, user=self._require_user(user), content=content)
        await self._request(call, api_key)

    async def suggested_questions(
        self, message_id: str, *, user: str | None = None, api_key: str | None = None
    ) -> list[str]:
        """Follow-up questions the app suggests after an answer.

        Example::

            questions = await client.suggested_questions(reply.id, user="alice")
        """
        return await self._request(E.suggested_questions(message_id, user=self._require_user(user)), api_key)

    async def messages(
        self,
        conversation_id: str,
        *,
        first_id: str | None = None,
        limit: int | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> MessagePage:
        """A page of a conversation's history, oldest first.

        Example::

            page = await client.messages(conversation_id, user="alice")
        """
        call = E.messages(
            conversation_id, user=self._resolve_user(user, required=False), first_id=first_id, limit=limit
        )
        return await self._request(call, api_key)
