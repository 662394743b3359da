// Drives the official `dify-client` npm package (2.3.2, axios) against a difychat server.
// Usage: node sdk_check.mjs <base url ending in /v1> <app key> <user>
// Prints one line of JSON describing what the SDK saw; the pytest side checks it.
import { ChatClient } from "dify-client";

const [baseUrl, apiKey, user] = process.argv.slice(2);
const client = new ChatClient(apiKey, baseUrl);

// The SDK hands back the raw byte stream; split it into SSE frames ourselves.
async function readUntilMessageEnd(stream) {
  const events = [];
  let buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffer = Buffer.concat([buffer, chunk]);
    let end;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const frame = buffer.subarray(0, end).toString("utf8");
      buffer = buffer.subarray(end + 2);
      if (frame === "event: ping") continue;
      if (!frame.startsWith("data: ")) throw new Error(`unexpected frame: ${frame}`);
      const event = JSON.parse(frame.slice(6));
      events.push(event);
      if (event.event === "message_end" || event.event === "error") {
        stream.destroy();
        return events;
      }
    }
  }
  return events;
}

async function statusOf(promise) {
  try {
    return (await promise).status;
  } catch (err) {
    if (err.response) return err.response.status;
    throw err;
  }
}

const summary = {};

const blocking = await client.createChatMessage({}, "Hello from Node", user);
summary.blocking = {
  status: blocking.status,
  answer: blocking.data.answer,
  id: blocking.data.id,
  conversation_id: blocking.data.conversation_id,
};
const conversationId = blocking.data.conversation_id;

const streaming = await client.createChatMessage({}, "Und weiter? Größer!", user, true, conversationId);
const events = await readUntilMessageEnd(streaming.data);
summary.streaming = {
  status: streaming.status,
  content_type: streaming.headers["content-type"],
  events: events.map((e) => e.event),
  answer: events.filter((e) => e.event === "message").map((e) => e.answer).join(""),
  conversation_ids: [...new Set(events.map((e) => e.conversation_id))],
  message_id: events.length ? events[events.length - 1].message_id : null,
};

const history = await client.getConversationMessages(user, conversationId);
summary.messages = history.data.data.map((m) => ({ query: m.query, answer: m.answer }));

// 2.3.2 sends `first_id` (not `last_id`) and `pinned`; a conforming server ignores both.
const listed = await client.getConversations(user, conversationId, 20, false);
summary.conversations = listed.data.data.map((c) => c.id);

const renamed = await client.renameConversation(conversationId, "Renamed by Node ✓", user);
summary.renamed = { status: renamed.status, id: renamed.data.id, name: renamed.data.name };

const feedback = await client.messageFeedback(summary.streaming.message_id, "like", user);
summary.feedback = { status: feedback.status, data: feedback.data };
const afterFeedback = await client.getConversationMessages(user, conversationId);
summary.feedback_seen = afterFeedback.data.data.map((m) => m.feedback);

const afterRename = await client.getConversations(user);
summary.names_after_rename = afterRename.data.data.map((c) => c.name);

const deleted = await client.deleteConversation(conversationId, user);
summary.deleted = { status: deleted.status };
summary.conversations_after_delete = (await client.getConversations(user)).data.data.map((c) => c.id);
summary.messages_after_delete_status = await statusOf(client.getConversationMessages(user, conversationId));

const stranger = new ChatClient("app-not-a-real-key-000000000", baseUrl);
summary.bad_key_status = await statusOf(stranger.createChatMessage({}, "hi", user));

const parameters = await client.getApplicationParameters(user);
summary.parameters = {
  status: parameters.status,
  keys: Object.keys(parameters.data),
  feature_flags_are_objects: typeof parameters.data.speech_to_text === "object",
};

// The README's upload: the caller builds the form; the SDK posts it.
const form = new FormData();
form.append("user", user);
form.append("file", new Blob(["Grüße aus Node"], { type: "text/plain" }), "greeting.txt");
const uploaded = await client.fileUpload(form);
summary.upload = {
  status: uploaded.status,
  name: uploaded.data.name,
  size: uploaded.data.size,
  mime_type: uploaded.data.mime_type,
};

console.log(JSON.stringify(summary));
