// Drives the official `dify-client` npm package's CompletionClient against a difychat completion app.
// Usage: node completion_check.mjs <base url ending in /v1> <completion app key> <chat app key> <user>
// Prints one line of JSON describing what the SDK saw; the pytest side checks it.
import { ChatClient, CompletionClient } from "dify-client";

const [baseUrl, apiKey, chatKey, user] = process.argv.slice(2);
const client = new CompletionClient(apiKey, baseUrl);

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

async function failureOf(promise) {
  try {
    const response = await promise;
    return { status: response.status };
  } catch (err) {
    if (err.response) return { status: err.response.status, code: err.response.data.code };
    throw err;
  }
}

const summary = {};

const blocking = await client.createCompletionMessage({ query: "Ein Haiku über Tokio" }, user);
summary.blocking = { status: blocking.status, keys: Object.keys(blocking.data), ...blocking.data };

const streaming = await client.createCompletionMessage({ query: "Noch eins" }, user, true);
const events = await readUntilMessageEnd(streaming.data);
summary.streaming = {
  status: streaming.status,
  content_type: streaming.headers["content-type"],
  events: events.map((e) => e.event),
  first_keys: events.length ? Object.keys(events[0]) : [],
  answer: events.filter((e) => e.event === "message").map((e) => e.answer).join(""),
  message_id: events.length ? events[events.length - 1].message_id : null,
};

const feedback = await client.messageFeedback(summary.streaming.message_id, "dislike", user);
summary.feedback = { status: feedback.status, data: feedback.data };

const parameters = await client.getApplicationParameters(user);
summary.parameters = {
  status: parameters.status,
  more_like_this: parameters.data.more_like_this,
  user_input_form: parameters.data.user_input_form,
};

summary.missing_query = await failureOf(client.createCompletionMessage({}, user));
summary.chat_key_on_completion = await failureOf(
  new CompletionClient(chatKey, baseUrl).createCompletionMessage({ query: "hi" }, user)
);
summary.completion_key_on_chat = await failureOf(
  new ChatClient(apiKey, baseUrl).createChatMessage({}, "hi", user)
);

console.log(JSON.stringify(summary));
