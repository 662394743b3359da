"""Tags and metadata of the Knowledge API over HTTP: shapes in the contract's key order, the
filters and counts they feed, their refusals, and what a key limited to named datasets may do."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ServerFactory
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch

pytestmark = pytest.mark.anyio

UNKNOWN = str(uuid.uuid4())
BUILT_IN = [
    {"name": "document_name", "type": "string"},
    {"name": "uploader", "type": "string"},
    {"name": "upload_date", "type": "time"},
    {"name": "last_update_date", "type": "time"},
    {"name": "source", "type": "string"},
]


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert list(body) == ["code", "message", "status"], body
    assert body["status"] == response.status_code
    return response.status_code, body["code"], body["message"]


async def ok(response: Any, status: int = 200) -> Any:
    found: httpx.Response = await response
    assert found.status_code == status, found.text
    return found.json() if status != 204 else None


async def add_text(client: httpx.AsyncClient, dataset_id: str, name: str, text: str) -> dict[str, Any]:
    body = {
        "name": name,
        "text": text,
        "indexing_technique": "economy",
        "process_rule": {"mode": "automatic"},
    }
    created: dict[str, Any] = await ok(
        client.post(f"/datasets/{dataset_id}/document/create-by-text", json=body)
    )
    return created


# -- tags -----------------------------------------------------------------------------------------


async def test_tags_bind_filter_rename_and_delete(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        docs = await make_dataset(client, "Docs")
        faq = await make_dataset(client, "FAQ")
        await make_dataset(client, "Other")

        guide = await ok(client.post("/datasets/tags", json={"name": "guide"}))
        assert list(guide) == ["id", "name", "type", "binding_count"]
        assert (guide["name"], guide["type"], guide["binding_count"]) == ("guide", "knowledge", 0)
        public = await ok(client.post("/datasets/tags", json={"name": "  public "}))
        assert public["name"] == "public"

        assert (
            await ok(
                client.post(
                    "/datasets/tags/binding", json={"tag_ids": [guide["id"]], "target_id": docs["id"]}
                ),
                204,
            )
            is None
        )
        both = {"tag_ids": [guide["id"], public["id"], guide["id"]], "target_id": faq["id"]}
        await ok(client.post("/datasets/tags/binding", json=both), 204)
        await ok(client.post("/datasets/tags/binding", json=both), 204)  # bound already: no change

        listed = await ok(client.get("/datasets/tags"))
        assert [list(t) for t in listed] == [["id", "name", "type", "binding_count"]] * 2
        # Newest first; the list counts as text, as Dify's does.
        assert [(t["name"], t["binding_count"]) for t in listed] == [("public", "1"), ("guide", "2")]

        bound = await ok(client.get(f"/datasets/{faq['id']}/tags"))
        assert list(bound) == ["data", "total"] and bound["total"] == 2
        assert bound["data"] == [{"id": public["id"], "name": "public"}, {"id": guide["id"], "name": "guide"}]
        shown = await ok(client.get(f"/datasets/{faq['id']}"))
        assert shown["tags"] == [
            {"id": public["id"], "name": "public", "type": "knowledge"},
            {"id": guide["id"], "name": "guide", "type": "knowledge"},
        ]

        async def tagged(*tag_ids: str) -> list[str]:
            page = await ok(client.get("/datasets", params={"tag_ids": list(tag_ids)}))
            assert page["total"] == len(page["data"])
            return [d["name"] for d in page["data"]]

        assert await tagged(guide["id"]) == ["FAQ", "Docs"]
        assert await tagged(public["id"]) == ["FAQ"]
        assert await tagged(public["id"], guide["id"]) == ["FAQ", "Docs"]  # any of them
        assert await tagged(UNKNOWN) == []
        assert await tagged("not-a-tag") == []
        listing = await ok(client.get("/datasets"))
        assert {d["name"]: len(d["tags"]) for d in listing["data"]} == {"Other": 0, "FAQ": 2, "Docs": 1}

        renamed = await ok(client.patch("/datasets/tags", json={"name": "guides", "tag_id": guide["id"]}))
        assert renamed == {"id": guide["id"], "name": "guides", "type": "knowledge", "binding_count": 2}
        same = await ok(client.patch("/datasets/tags", json={"name": "guides", "tag_id": guide["id"]}))
        assert same["name"] == "guides"

        await ok(
            client.post("/datasets/tags/unbinding", json={"tag_id": guide["id"], "target_id": docs["id"]}),
            204,
        )
        await ok(
            client.post("/datasets/tags/unbinding", json={"tag_id": guide["id"], "target_id": docs["id"]}),
            204,
        )
        assert (await ok(client.get(f"/datasets/{docs['id']}/tags"))) == {"data": [], "total": 0}
        await ok(
            client.post("/datasets/tags/unbinding", json={"tag_ids": [public["id"]], "target_id": faq["id"]}),
            204,
        )
        assert [t["name"] for t in (await ok(client.get(f"/datasets/{faq['id']}")))["tags"]] == ["guides"]

        # Deleting a tag unbinds it everywhere; deleting a dataset drops its bindings.
        await ok(client.request("DELETE", "/datasets/tags", json={"tag_id": guide["id"]}), 204)
        assert (await ok(client.get(f"/datasets/{faq['id']}")))["tags"] == []
        assert await tagged(guide["id"]) == []
        assert [t["name"] for t in await ok(client.get("/datasets/tags"))] == ["public"]
        await ok(
            client.post("/datasets/tags/binding", json={"tag_ids": [public["id"]], "target_id": docs["id"]}),
            204,
        )
        await ok(client.delete(f"/datasets/{docs['id']}"), 204)
        assert (await ok(client.get("/datasets/tags")))[0]["binding_count"] == "0"


async def test_tag_refusals(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await make_dataset(client, "Docs")
        tag = await ok(client.post("/datasets/tags", json={"name": "guide"}))
        other = await ok(client.post("/datasets/tags", json={"name": "other"}))
        length = (400, "invalid_param", "Name must be between 1 to 50 characters.")
        for name in ("", "   ", "x" * 51):
            assert error(await client.post("/datasets/tags", json={"name": name})) == length
        assert error(await client.post("/datasets/tags", json={"name": "guide"})) == (
            400,
            "invalid_param",
            "Tag name already exists",
        )
        assert error(await client.post("/datasets/tags", json={}))[:2] == (400, "invalid_param")
        assert error(await client.post("/datasets/tags", json={"name": 5}))[:2] == (400, "invalid_param")
        assert error(await client.post("/datasets/tags", content=b"name=x"))[:2] == (
            415,
            "unsupported_media_type",
        )
        taken = await client.patch("/datasets/tags", json={"name": "guide", "tag_id": other["id"]})
        assert error(taken) == (400, "invalid_param", "Tag name already exists")
        assert error(await client.patch("/datasets/tags", json={"name": "x", "tag_id": UNKNOWN})) == (
            404,
            "not_found",
            "Tag not found",
        )
        assert error(await client.patch("/datasets/tags", json={"name": "x", "tag_id": "nope"}))[0] == 404
        assert error(await client.patch("/datasets/tags", json={"name": "x"}))[:2] == (400, "invalid_param")
        assert error(await client.request("DELETE", "/datasets/tags", json={"tag_id": UNKNOWN}))[0] == 404
        assert error(await client.request("DELETE", "/datasets/tags", json={}))[:2] == (400, "invalid_param")

        binding = "/datasets/tags/binding"
        empty = await client.post(binding, json={"tag_ids": [], "target_id": dataset["id"]})
        assert error(empty)[:2] == (400, "invalid_param") and "Tag IDs is required." in error(empty)[2]
        assert error(await client.post(binding, json={"tag_ids": [tag["id"]]}))[:2] == (400, "invalid_param")
        for target in (UNKNOWN, "not-a-uuid"):
            assert error(await client.post(binding, json={"tag_ids": [tag["id"]], "target_id": target})) == (
                404,
                "not_found",
                "Dataset not found.",
            )
        half_known = {"tag_ids": [tag["id"], UNKNOWN], "target_id": dataset["id"]}
        assert error(await client.post(binding, json=half_known)) == (404, "not_found", "Tag not found")
        assert (await ok(client.get(f"/datasets/{dataset['id']}/tags")))["total"] == 0  # nothing bound
        unbinding = "/datasets/tags/unbinding"
        assert error(await client.post(unbinding, json={"target_id": dataset["id"]}))[:2] == (
            400,
            "invalid_param",
        )
        missing = await client.post(unbinding, json={"tag_id": tag["id"], "target_id": UNKNOWN})
        assert error(missing) == (404, "not_found", "Dataset not found.")
        assert error(await client.get(f"/datasets/{UNKNOWN}/tags")) == (
            404,
            "not_found",
            "Dataset not found.",
        )
    async with server.client(None) as anonymous:
        assert error(await anonymous.get("/datasets/tags"))[:2] == (401, "unauthorized")
        assert error(await anonymous.post("/datasets/tags", json={"name": "x"}))[:2] == (401, "unauthorized")


async def test_a_limited_key_never_deletes_a_tag_bound_meanwhile_to_a_dataset_out_of_its_reach(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as admin:
        mine = await make_dataset(admin, "Mine")
        theirs = await make_dataset(admin, "Theirs")
    async with (
        server.client(await knowledge_key(server)) as admin,
        server.client(await knowledge_key(server, ["Mine"])) as scoped,
    ):
        outcomes = []
        for n in range(12):
            tag = await ok(scoped.post("/datasets/tags", json={"name": f"t{n}"}))
            own = {"tag_ids": [tag["id"]], "target_id": mine["id"]}
            await ok(scoped.post("/datasets/tags/binding", json=own), 204)
            outside = {"tag_ids": [tag["id"]], "target_id": theirs["id"]}
            deleted, bound = await asyncio.gather(
                scoped.request("DELETE", "/datasets/tags", json={"tag_id": tag["id"]}),
                admin.post("/datasets/tags/binding", json=outside),
            )
            outcomes.append((deleted.status_code, bound.status_code))
            tags = {t["id"]: t for t in await ok(admin.get("/datasets/tags"))}
            if deleted.status_code == 204:
                assert tag["id"] not in tags
            else:
                assert tags[tag["id"]]["binding_count"] == "2"
    # Either the binding came first and the limited key was refused, or the delete came first and
    # the binding found no tag: never both done, never a server error.
    assert set(outcomes) <= {(403, 204), (204, 404)}, outcomes


async def test_a_key_limited_to_named_datasets_keeps_to_them(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as admin:
        mine = await make_dataset(admin, "Mine")
        theirs = await make_dataset(admin, "Theirs")
        shared = await ok(admin.post("/datasets/tags", json={"name": "shared"}))
        own = await ok(admin.post("/datasets/tags", json={"name": "own"}))
        for dataset in (mine, theirs):
            await ok(
                admin.post(
                    "/datasets/tags/binding", json={"tag_ids": [shared["id"]], "target_id": dataset["id"]}
                ),
                204,
            )
        await ok(
            admin.post("/datasets/tags/binding", json={"tag_ids": [own["id"]], "target_id": mine["id"]}), 204
        )
        field = await ok(
            admin.post(f"/datasets/{theirs['id']}/metadata", json={"type": "string", "name": "a"}), 201
        )

    async with server.client(await knowledge_key(server, ["Mine"])) as scoped:
        counts = {t["name"]: t["binding_count"] for t in await ok(scoped.get("/datasets/tags"))}
        assert counts == {"own": "1", "shared": "1"}  # the other dataset's binding is not counted
        page = await ok(scoped.get("/datasets", params={"tag_ids": shared["id"]}))
        assert [d["name"] for d in page["data"]] == ["Mine"]
        not_found = (404, "not_found", "Dataset not found.")
        assert error(await scoped.get(f"/datasets/{theirs['id']}/tags")) == not_found
        bind = {"tag_ids": [own["id"]], "target_id": theirs["id"]}
        assert error(await scoped.post("/datasets/tags/binding", json=bind)) == not_found
        unbind = {"tag_id": shared["id"], "target_id": theirs["id"]}
        assert error(await scoped.post("/datasets/tags/unbinding", json=unbind)) == not_found
        # A tag other datasets carry is not this key's to rename or delete.
        rename = await scoped.patch("/datasets/tags", json={"name": "x", "tag_id": shared["id"]})
        assert error(rename)[:2] == (403, "forbidden")
        assert (
            error(await scoped.request("DELETE", "/datasets/tags", json={"tag_id": shared["id"]}))[0] == 403
        )
        assert (await ok(scoped.patch("/datasets/tags", json={"name": "mine", "tag_id": own["id"]})))[
            "binding_count"
        ] == 1
        created = await ok(scoped.post("/datasets/tags", json={"name": "new"}))
        await ok(
            scoped.post("/datasets/tags/binding", json={"tag_ids": [created["id"]], "target_id": mine["id"]}),
            204,
        )
        await ok(scoped.request("DELETE", "/datasets/tags", json={"tag_id": created["id"]}), 204)
        # Metadata of a dataset out of reach is out of reach too.
        base = f"/datasets/{theirs['id']}/metadata"
        assert error(await scoped.get(base)) == not_found
        assert error(await scoped.post(base, json={"type": "string", "name": "b"})) == not_found
        assert error(await scoped.patch(f"{base}/{field['id']}", json={"name": "b"})) == not_found
        assert error(await scoped.delete(f"{base}/{field['id']}")) == not_found
        assert error(await scoped.post(f"{base}/built-in/enable")) == not_found
        assert (
            error(
                await scoped.post(f"/datasets/{theirs['id']}/documents/metadata", json={"operation_data": []})
            )
            == not_found
        )

    async with server.client(await knowledge_key(server)) as admin:
        assert [t["name"] for t in (await ok(admin.get(f"/datasets/{theirs['id']}")))["tags"]] == ["shared"]
        assert [
            f["name"] for f in (await ok(admin.get(f"/datasets/{theirs['id']}/metadata")))["doc_metadata"]
        ] == ["a"]


# -- metadata -------------------------------------------------------------------------------------


async def test_metadata_fields_and_document_values(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await make_dataset(client, "Docs")
        base = f"/datasets/{dataset['id']}"
        author = await ok(client.post(f"{base}/metadata", json={"type": "string", "name": "author"}), 201)
        assert list(author) == ["id", "type", "name"] and (author["type"], author["name"]) == (
            "string",
            "author",
        )
        year = await ok(client.post(f"{base}/metadata", json={"type": "number", "name": "year"}), 201)
        when = await ok(client.post(f"{base}/metadata", json={"type": "time", "name": "when"}), 201)

        listed = await ok(client.get(f"{base}/metadata"))
        assert list(listed) == ["doc_metadata", "built_in_field_enabled"]
        assert listed["built_in_field_enabled"] is False
        assert [list(f) for f in listed["doc_metadata"]] == [["id", "name", "type", "count"]] * 3
        assert [(f["name"], f["type"], f["count"]) for f in listed["doc_metadata"]] == [
            ("author", "string", 0),
            ("year", "number", 0),
            ("when", "time", 0),
        ]
        shown = await ok(client.get(base))
        assert shown["doc_metadata"] == [
            {"id": author["id"], "name": "author", "type": "string"},
            {"id": year["id"], "name": "year", "type": "number"},
            {"id": when["id"], "name": "when", "type": "time"},
        ]

        first = await add_text(client, dataset["id"], "intro", "How to reset a password from the login page.")
        second = await add_text(client, dataset["id"], "faq", "Questions and answers about accounts.")
        assert first["document"]["doc_metadata"] is None
        one, two = first["document"]["id"], second["document"]["id"]
        body = {
            "operation_data": [
                {
                    "document_id": one,
                    "metadata_list": [
                        {"id": author["id"], "name": "author", "value": "Ada"},
                        {"id": year["id"], "name": "year", "value": 1843},
                    ],
                },
                {
                    "document_id": two,
                    "metadata_list": [{"id": when["id"], "name": "when", "value": 1735689600.5}],
                },
            ]
        }
        assert await ok(client.post(f"{base}/documents/metadata", json=body)) == {"result": "success"}

        detail = await ok(client.get(f"{base}/documents/{one}"))
        assert detail["doc_metadata"] == [
            {"id": author["id"], "name": "author", "type": "string", "value": "Ada"},
            {"id": year["id"], "name": "year", "type": "number", "value": 1843},
        ]
        assert list(detail["doc_metadata"][0]) == ["id", "name", "type", "value"]
        only = await ok(client.get(f"{base}/documents/{one}", params={"metadata": "only"}))
        assert only["doc_metadata"] == detail["doc_metadata"]
        items = {d["id"]: d["doc_metadata"] for d in (await ok(client.get(f"{base}/documents")))["data"]}
        assert items[two] == [{"id": when["id"], "name": "when", "type": "time", "value": 1735689600.5}]
        counts = {f["name"]: f["count"] for f in (await ok(client.get(f"{base}/metadata")))["doc_metadata"]}
        assert counts == {"author": 1, "year": 1, "when": 1}

        # partial_update keeps the fields it does not name; without it they are cleared.
        partial = {
            "document_id": one,
            "metadata_list": [{"id": year["id"], "name": "year", "value": 1850}],
            "partial_update": True,
        }
        await ok(client.post(f"{base}/documents/metadata", json={"operation_data": [partial]}))
        values = {
            i["name"]: i["value"] for i in (await ok(client.get(f"{base}/documents/{one}")))["doc_metadata"]
        }
        assert values == {"author": "Ada", "year": 1850}
        full = {"document_id": two, "metadata_list": [{"id": author["id"], "name": "author", "value": None}]}
        await ok(client.post(f"{base}/documents/metadata", json={"operation_data": [full]}))
        assert (await ok(client.get(f"{base}/documents/{two}")))["doc_metadata"] == [
            {"id": author["id"], "name": "author", "type": "string", "value": None}
        ]

        # Search results show the document's values by name (Dify's object).
        await wait_for_batch(client, dataset["id"], first["batch"])
        found = await ok(client.post(f"{base}/retrieve", json={"query": "reset password"}))
        hit = found["records"][0]["segment"]["document"]
        assert (hit["id"], hit["doc_metadata"]) == (one, {"author": "Ada", "year": 1850})

        # Renaming keeps the values; deleting removes them from every document.
        renamed = await ok(client.patch(f"{base}/metadata/{author['id']}", json={"name": "writer"}))
        assert renamed == {"id": author["id"], "type": "string", "name": "writer"}
        values = {
            i["name"]: i["value"] for i in (await ok(client.get(f"{base}/documents/{one}")))["doc_metadata"]
        }
        assert values == {"writer": "Ada", "year": 1850}
        await ok(client.delete(f"{base}/metadata/{author['id']}"), 204)
        assert [i["name"] for i in (await ok(client.get(f"{base}/documents/{one}")))["doc_metadata"]] == [
            "year"
        ]
        assert (await ok(client.get(f"{base}/documents/{two}")))["doc_metadata"] is None
        found = await ok(client.post(f"{base}/retrieve", json={"query": "reset password"}))
        assert found["records"][0]["segment"]["document"]["doc_metadata"] == {"year": 1850}
        assert [f["name"] for f in (await ok(client.get(base)))["doc_metadata"]] == ["year", "when"]

        # The built-in fields: listed, then shown by the dataset and its documents while on.
        assert await ok(client.get(f"{base}/metadata/built-in")) == {"fields": BUILT_IN}
        assert await ok(client.post(f"{base}/metadata/built-in/enable")) == {"result": "success"}
        shown = await ok(client.get(base))
        assert shown["built_in_field_enabled"] is True
        assert shown["doc_metadata"][2:] == [{"id": "built-in", **f} for f in BUILT_IN]
        assert (await ok(client.get(f"{base}/metadata")))["built_in_field_enabled"] is True
        items = (await ok(client.get(f"{base}/documents/{two}")))["doc_metadata"]
        assert [(i["id"], i["name"], i["type"]) for i in items] == [
            ("built-in", f["name"], f["type"]) for f in BUILT_IN
        ]
        built = {i["name"]: i["value"] for i in items}
        assert (built["document_name"], built["source"]) == ("faq", "file_upload")
        assert float(built["upload_date"]) > 1.7e9 and isinstance(built["last_update_date"], str)
        await ok(client.post(f"{base}/metadata/built-in/disable"))
        assert (await ok(client.get(base)))["built_in_field_enabled"] is False
        assert (await ok(client.get(f"{base}/documents/{two}")))["doc_metadata"] is None

        # Deleting a document drops its bindings from the counts.
        await wait_for_batch(client, dataset["id"], second["batch"])
        await ok(client.delete(f"{base}/documents/{one}"), 204)
        counts = {f["name"]: f["count"] for f in (await ok(client.get(f"{base}/metadata")))["doc_metadata"]}
        assert counts == {"year": 0, "when": 0}


async def test_metadata_refusals(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await make_dataset(client, "Docs")
        other = await make_dataset(client, "Other")
        base = f"/datasets/{dataset['id']}"
        field = await ok(client.post(f"{base}/metadata", json={"type": "string", "name": "author"}), 201)
        elsewhere = await ok(
            client.post(f"/datasets/{other['id']}/metadata", json={"type": "string", "name": "x"}), 201
        )
        created = await add_text(client, dataset["id"], "intro", "Some text.")
        document_id = created["document"]["id"]

        assert error(await client.post(f"{base}/metadata", json={"type": "date", "name": "d"}))[:2] == (
            400,
            "invalid_param",
        )
        assert error(await client.post(f"{base}/metadata", json={"name": "d"}))[:2] == (400, "invalid_param")
        assert error(await client.post(f"{base}/metadata", json={"type": "string", "name": "author"})) == (
            400,
            "invalid_param",
            "Metadata name already exists.",
        )
        assert error(await client.post(f"{base}/metadata", json={"type": "string", "name": "source"})) == (
            400,
            "invalid_param",
            "Metadata name already exists in Built-in fields.",
        )
        assert error(await client.post(f"{base}/metadata", json={"type": "string", "name": "n" * 256})) == (
            400,
            "invalid_param",
            "Metadata name cannot exceed 255 characters.",
        )
        # The same name in another dataset is fine.
        await ok(
            client.post(f"/datasets/{other['id']}/metadata", json={"type": "number", "name": "author"}), 201
        )
        missing = (404, "not_found", "Metadata not found.")
        for metadata_id in (UNKNOWN, "nope", elsewhere["id"]):
            assert error(await client.patch(f"{base}/metadata/{metadata_id}", json={"name": "y"})) == missing
            assert error(await client.delete(f"{base}/metadata/{metadata_id}")) == missing
        assert (
            error(await client.patch(f"{base}/metadata/{field['id']}", json={"name": "uploader"}))[0] == 400
        )
        assert error(await client.patch(f"{base}/metadata/{field['id']}", json={}))[:2] == (
            400,
            "invalid_param",
        )
        assert error(await client.post(f"{base}/metadata/built-in/toggle")) == (
            400,
            "invalid_action",
            "Invalid action.",
        )
        assert error(await client.get(f"/datasets/{UNKNOWN}/metadata")) == (
            404,
            "not_found",
            "Dataset not found.",
        )
        assert error(await client.get(f"/datasets/{UNKNOWN}/metadata/built-in"))[0] == 404

        url = f"{base}/documents/metadata"

        def op(doc: str, metadata_id: str, value: Any = "Ada") -> dict[str, Any]:
            return {
                "operation_data": [
                    {
                        "document_id": doc,
                        "metadata_list": [{"id": metadata_id, "name": "author", "value": value}],
                    }
                ]
            }

        assert error(await client.post(url, json={}))[:2] == (400, "invalid_param")
        assert error(await client.post(url, json=op(document_id, field["id"], True)))[:2] == (
            400,
            "invalid_param",
        )
        assert error(await client.post(url, json=op(document_id, field["id"], {"a": 1})))[:2] == (
            400,
            "invalid_param",
        )
        for doc in (UNKNOWN, "nope"):
            assert error(await client.post(url, json=op(doc, field["id"]))) == (
                404,
                "not_found",
                "Document not found.",
            )
        for metadata_id in (UNKNOWN, elsewhere["id"], "built-in"):
            assert error(await client.post(url, json=op(document_id, metadata_id))) == missing
        # One bad item changes nothing, not even the good ones before it.
        mixed = op(document_id, field["id"])
        mixed["operation_data"].append({"document_id": UNKNOWN, "metadata_list": []})
        assert error(await client.post(url, json=mixed))[0] == 404
        assert (await ok(client.get(f"{base}/documents/{document_id}")))["doc_metadata"] is None


async def test_huge_id_lists_are_refused_and_concurrent_bindings_all_succeed(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await make_dataset(client, "Docs")
        tag = await ok(client.post("/datasets/tags", json={"name": "guide"}))
        many = [str(uuid.uuid4()) for _ in range(40_000)]  # more than one statement may bind
        for path, body in (
            ("/datasets/tags/binding", {"tag_ids": many, "target_id": dataset["id"]}),
            ("/datasets/tags/unbinding", {"tag_ids": many, "target_id": dataset["id"]}),
            (
                f"/datasets/{dataset['id']}/documents/metadata",
                {"operation_data": [{"document_id": d, "metadata_list": []} for d in many]},
            ),
        ):
            assert error(await client.post(path, json=body))[:2] == (400, "invalid_param"), path
        same = {"tag_ids": [tag["id"]], "target_id": dataset["id"]}
        results = await asyncio.gather(*(client.post("/datasets/tags/binding", json=same) for _ in range(8)))
        assert [r.status_code for r in results] == [204] * 8
        tags = await ok(client.get(f"/datasets/{dataset['id']}/tags"))
    assert tags["total"] == 1 and tags["data"][0]["id"] == tag["id"]
