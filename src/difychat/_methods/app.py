"""The app itself: parameters, info, meta, site, feedback list and annotations."""

from __future__ import annotations

from typing import Literal

from difychat import _endpoints as E
from difychat._io import AsyncCore, SyncCore
from difychat.types.annotations import Annotation, AnnotationPage, AnnotationReplyJob
from difychat.types.app import AppFeedbackPage, AppInfo, AppMeta, AppParameters, AppSite

Action = Literal["enable", "disable"]


class AppMethods(SyncCore):
    def parameters(self, *, api_key: str | None = None) -> AppParameters:
        """The app's opening statement, suggested questions, input form and feature switches.

        Example::

            params = client.parameters()
            print(params.opening_statement, params.suggested_questions)
        """
        return self._request(E.parameters(), api_key)

    def info(self, *, api_key: str | None = None) -> AppInfo:
        """The app's name, description, tags, mode and author.

        Example::

            print(client.info().name)
        """
        return self._request(E.info(), api_key)

    def meta(self, *, api_key: str | None = None) -> AppMeta:
        """The icons of the tools the app uses.

        Example::

            icons = client.meta().tool_icons
        """
        return self._request(E.meta(), api_key)

    def site(self, *, api_key: str | None = None) -> AppSite:
        """The web app's title, colours, icon and texts.

        Example::

            print(client.site().title)
        """
        return self._request(E.site(), api_key)

    def app_feedbacks(
        self, *, page: int | None = None, limit: int | None = None, api_key: str | None = None
    ) -> AppFeedbackPage:
        """All feedback given on this app's answers, newest first (offset paging).

        Example::

            for feedback in client.app_feedbacks(limit=50).data:
                print(feedback.rating, feedback.content)
        """
        return self._request(E.app_feedbacks(page=page, limit=limit), api_key)

    def annotations(
        self,
        *,
        page: int | None = None,
        limit: int | None = None,
        keyword: str | None = None,
        api_key: str | None = None,
    ) -> AnnotationPage:
        """A page of the app's annotations, optionally filtered by a keyword.

        Example::

            page = client.annotations(keyword="refund")
        """
        return self._request(E.list_annotations(page=page, limit=limit, keyword=keyword), api_key)

    def create_annotation(self, question: str, answer: str, *, api_key: str | None = None) -> Annotation:
        """Add a curated answer to a question.

        Example::

            note = client.create_annotation("What is your name?", "I am Dify.")
        """
        return self._request(E.create_annotation(question, answer), api_key)

    def update_annotation(
        self, annotation_id: str, question: str, answer: str, *, api_key: str | None = None
    ) -> Annotation:
        """Replace an annotation's question and answer.

        Example::

            client.update_annotation(note.id, "What is your name?", "I am difychat.")
        """
        return self._request(E.update_annotation(annotation_id, question, answer), api_key)

    def delete_annotation(self, annotation_id: str, *, api_key: str | None = None) -> None:
        """Delete an annotation (and its hit history).

        Example::

            client.delete_annotation(note.id)
        """
        self._request(E.delete_annotation(annotation_id), api_key)

    def enable_annotation_reply(
        self,
        *,
        score_threshold: float,
        embedding_provider_name: str,
        embedding_model_name: str,
        api_key: str | None = None,
    ) -> AnnotationReplyJob:
        """Start answering matching questions from annotations; returns the background job.

        Example::

            job = client.enable_annotation_reply(
                score_threshold=0.9, embedding_provider_name="openai", embedding_model_name="embed-small"
            )
        """
        call = E.annotation_reply(
            "enable",
            score_threshold=score_threshold,
            embedding_provider_name=embedding_provider_name,
            embedding_model_name=embedding_model_name,
        )
        return self._request(call, api_key)

    def disable_annotation_reply(
        self,
        *,
        score_threshold: float,
        embedding_provider_name: str,
        embedding_model_name: str,
        api_key: str | None = None,
    ) -> AnnotationReplyJob:
        """Stop answering from annotations (Dify requires the same settings body as enabling).

        Example::

            job = client.disable_annotation_reply(
                score_threshold=0.9, embedding_provider_name="openai", embedding_model_name="embed-small"
            )
        """
        call = E.annotation_reply(
            "disable",
            score_threshold=score_threshold,
            embedding_provider_name=embedding_provider_name,
            embedding_model_name=embedding_model_name,
        )
        return self._request(call, api_key)

    def annotation_reply_status(
        self, action: Action, job_id: str, *, api_key: str | None = None
    ) -> AnnotationReplyJob:
        """The state of an enable/disable job: ``waiting``, ``processing``, ``completed`` or ``error``.

        Example::

            status = client.annotation_reply_status("enable", job.job_id)
        """
        return self._request(E.annotation_reply_status(action, job_id), api_key)


class AsyncAppMethods(AsyncCore):
    async def parameters(self, *, api_key: str | None = None) -> AppParameters:
        """The app's opening statement, suggested questions, input form and feature switches.

        Example::

            params = await client.parameters()
        """
        return await self._request(E.parameters(), api_key)

    async def info(self, *, api_key: str | None = None) -> AppInfo:
        """The app's name, description, tags, mode and author.

        Example::

            info = await client.info()
        """
        return await self._request(E.info(), api_key)

    async def meta(self, *, api_key: str | None = None) -> AppMeta:
        """The icons of the tools the app uses.

        Example::

            meta = await client.meta()
        """
        return await self._request(E.meta(), api_key)

    async def site(self, *, api_key: str | None = None) -> AppSite:
        """The web app's title, colours, icon and texts.

        Example::

            site = await client.site()
        """
        return await self._request(E.site(), api_key)

    async def app_feedbacks(
        self, *, page: int | None = None, limit: int | None = None, api_key: str | None = None
    ) -> AppFeedbackPage:
        """All feedback given on this app's answers, newest first.

        Example::

            page = await client.app_feedbacks(page=2)
        """
        return await self._request(E.app_feedbacks(page=page, limit=limit), api_key)

    async def annotations(
        self,
        *,
        page: int | None = None,
        limit: int | None = None,
        keyword: str | None = None,
        api_key: str | None = None,
    ) -> AnnotationPage:
        """A page of the app's annotations.

        Example::

            page = await client.annotations(limit=100)
        """
        return await self._request(E.list_annotations(page=page, limit=limit, keyword=keyword), api_key)

    async def create_annotation(
        self, question: str, answer: str, *, api_key: str | None = None
    ) -> Annotation:
        """Add a curated answer to a question.

        Example::

            note = await client.create_annotation("Hours?", "9 to 5.")
        """
        return await self._request(E.create_annotation(question, answer), api_key)

    async def update_annotation(
        self, annotation_id: str, question: str, answer: str, *, api_key: str | None = None
    ) -> Annotation:
        """Replace an annotation's question and answer.

        Example::

            await client.update_annotation(note.id, "Hours?", "9 to 6.")
        """
        return await self._request(E.update_annotation(annotation_id, question, answer), api_key)

    async def delete_annotation(self, annotation_id: str, *, api_key: str | None = None) -> None:
        """Delete an annotation.

        Example::

            await client.delete_annotation(note.id)
        """
        await self._request(E.delete_annotation(annotation_id), api_key)

    async def enable_annotation_reply(
        self,
        *,
        score_threshold: float,
        embedding_provider_name: str,
        embedding_model_name: str,
        api_key: str | None = None,
    ) -> AnnotationReplyJob:
        """Start answering matching questions from annotations.

        Example::

            job = await client.enable_annotation_reply(
                score_threshold=0.9, embedding_provider_name="openai", embedding_model_name="embed-small"
            )
        """
        call = E.annotation_reply(
            "enable",
            score_threshold=score_threshold,
            embedding_provider_name=embedding_provider_name,
            embedding_model_name=embedding_model_name,
        )
        return await self._request(call, api_key)

    async def disable_annotation_reply(
        self,
        *,
        score_threshold: float,
        embedding_provider_name: str,
        embedding_model_name: str,
        api_key: str | None = None,
    ) -> AnnotationReplyJob:
        """Stop answering from annotations.

        Example::

            job = await client.disable_annotation_reply(
                score_threshold=0.9, embedding_provider_name="openai", embedding_model_name="embed-small"
            )
        """
        call = E.annotation_reply(
            "disable",
            score_threshold=score_threshold,
            embedding_provider_name=embedding_provider_name,
            embedding_model_name=embedding_model_name,
        )
        return await self._request(call, api_key)

    async def annotation_reply_status(
        self, action: Action, job_id: str, *, api_key: str | None = None
    ) -> AnnotationReplyJob:
        """The state of an enable/disable job.

        Example::

            status = await client.annotation_reply_status("enable", job.job_id)
        """
        return await self._request(E.annotation_reply_status(action, job_id), api_key)
