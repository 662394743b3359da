"""Listing, renaming and deleting conversations, and their variables."""

from __future__ import annotations

from typing import Any, Literal

from difychat import _endpoints as E
from difychat._io import AsyncCore, SyncCore
from difychat.types.conversations import (
    Conversation,
    ConversationPage,
    ConversationVariable,
    ConversationVariablePage,
)

SortBy = Literal["created_at", "-created_at", "updated_at", "-updated_at"]


class ConversationMethods(SyncCore):
    def conversations(
        self,
        *,
        last_id: str | None = None,
        limit: int | None = None,
        sort_by: SortBy | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationPage:
        """A page of the user's conversations (default order: most recently updated first).

        For the next page pass ``last_id=page.data[-1].id`` while ``page.has_more``.

        Example::

            page = client.conversations(user="alice", limit=10)
            for conversation in page.data:
                print(conversation.id, conversation.name)
        """
        call = E.conversations(
            user=self._resolve_user(user, required=False), last_id=last_id, limit=limit, sort_by=sort_by
        )
        return self._request(call, api_key)

    def delete_conversation(
        self, conversation_id: str, *, user: str | None = None, api_key: str | None = None
    ) -> None:
        """Delete a conversation of the user (the server answers 204, older Dify 200).

        Example::

            client.delete_conversation(conversation_id, user="alice")
        """
        self._request(
            E.delete_conversation(conversation_id, user=self._resolve_user(user, required=False)), api_key
        )

    def rename_conversation(
        self,
        conversation_id: str,
        name: str | None = None,
        *,
        auto_generate: bool = False,
        user: str | None = None,
        api_key: str | None = None,
    ) -> Conversation:
        """Rename a conversation, or let the app title it (``auto_generate=True``).

        Example::

            client.rename_conversation(conversation_id, "Trip to Lisbon", user="alice")
            titled = client.rename_conversation(conversation_id, auto_generate=True, user="alice")
            print(titled.name)
        """
        if name is None and not auto_generate:
            raise ValueError("rename_conversation needs a name, or auto_generate=True")
        call = E.rename_conversation(
            conversation_id,
            name=name,
            auto_generate=auto_generate,
            user=self._resolve_user(user, required=False),
        )
        return self._request(call, api_key)

    def conversation_variables(
        self,
        conversation_id: str,
        *,
        last_id: str | None = None,
        limit: int | None = None,
        variable_name: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationVariablePage:
        """A page of a conversation's variables (chatflow apps), optionally filtered by name.

        Example::

            page = client.conversation_variables(conversation_id, user="alice")
            values = {variable.name: variable.value for variable in page.data}
        """
        call = E.conversation_variables(
            conversation_id,
            user=self._resolve_user(user, required=False),
            last_id=last_id,
            limit=limit,
            variable_name=variable_name,
        )
        return self._request(call, api_key)

    def update_conversation_variable(
        self,
        conversation_id: str,
        variable_id: str,
        value: Any,
        *,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationVariable:
        """Set a conversation variable's value (it must match the variable's type).

        Example::

            client.update_conversation_variable(conversation_id, variable.id, "John", user="alice")
        """
        call = E.update_conversation_variable(
            conversation_id, variable_id, value, user=self._resolve_user(user, required=False)
        )
        return self._request(call, api_key)


class AsyncConversationMethods(AsyncCore):
    async def conversations(
        self,
        *,
        last_id: str | None = None,
        limit: int | None = None,
        sort_by: SortBy | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationPage:
        """A page of the user's conversations.

        Example::

            page = await client.conversations(user="alice")
        """
        call = E.conversations(
            user=self._resolve_user(user, required=False), last_id=last_id, limit=limit, sort_by=sort_by
        )
        return await self._request(call, api_key)

    async def delete_conversation(
        self, conversation_id: str, *, user: str | None = None, api_key: str | None = None
    ) -> None:
        """Delete a conversation of the user.

        Example::

            await client.delete_conversation(conversation_id, user="alice")
        """
        call = E.delete_conversation(conversation_id, user=self._resolve_user(user, required=False))
        await self._request(call, api_key)

    async def rename_conversation(
        self,
        conversation_id: str,
        name: str | None = None,
        *,
        auto_generate: bool = False,
        user: str | None = None,
        api_key: str | None = None,
    ) -> Conversation:
        """Rename a conversation, or let the app title it (``auto_generate=True``).

        Example::

            await client.rename_conversation(conversation_id, "Trip to Lisbon", user="alice")
        """
        if name is None and not auto_generate:
            raise ValueError("rename_conversation needs a name, or auto_generate=True")
        call = E.rename_conversation(
            conversation_id,
            name=name,
            auto_generate=auto_generate,
            user=self._resolve_user(user, required=False),
        )
        return await self._request(call, api_key)

    async def conversation_variables(
        self,
        conversation_id: str,
        *,
        last_id: str | None = None,
        limit: int | None = None,
        variable_name: str | None = None,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationVariablePage:
        """A page of a conversation's variables.

        Example::

            page = await client.conversation_variables(conversation_id, user="alice")
        """
        call = E.conversation_variables(
            conversation_id,
            user=self._resolve_user(user, required=False),
            last_id=last_id,
            limit=limit,
            variable_name=variable_name,
        )
        return await self._request(call, api_key)

    async def update_conversation_variable(
        self,
        conversation_id: str,
        variable_id: str,
        value: Any,
        *,
        user: str | None = None,
        api_key: str | None = None,
    ) -> ConversationVariable:
        """Set a conversation variable's value.

        Example::

            await client.update_conversation_variable(conversation_id, variable.id, 42, user="alice")
        """
        call = E.update_conversation_variable(
            conversation_id, variable_id, value, user=self._resolve_user(user, required=False)
        )
        return await self._request(call, api_key)
