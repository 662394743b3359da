// The conversation list: pinned ones first, then the others, newest first, each with pin, rename
// and delete; more are fetched as the list scrolls to its end.

import { confirmDialog, h, icon, iconButton } from "./dom.js";

const PAGE = 20;

export class Sidebar {
  constructor(ctx) {
    this.ctx = ctx;
    this.pinned = [];
    this.recent = [];
    this.hasMore = false;
    this.loading = false;
    this.editing = null;
    this.list = h("nav", { class: "conversations", "aria-label": "Conversations" });
    this.sentinel = h("div", { class: "list-end" });
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { root: this.list });
  }

  async load() {
    const [pinned, recent] = await Promise.all([
      this.ctx.api.get("conversations", { pinned: "true", limit: 100 }),
      this.ctx.api.get("conversations", { pinned: "false", limit: PAGE }),
    ]);
    this.pinned = pinned.data;
    this.recent = recent.data;
    this.hasMore = recent.has_more;
    this.render();
  }

  async loadMore() {
    if (!this.hasMore || this.loading || !this.recent.length) return;
    this.loading = true;
    try {
      const last = this.recent[this.recent.length - 1];
      const page = await this.ctx.api.get("conversations", { pinned: "false", limit: PAGE, last_id: last.id });
      this.recent.push(...page.data);
      this.hasMore = page.has_more;
      this.render();
    } catch (error) {
      this.ctx.actions.error(error.message);
    } finally {
      this.loading = false;
    }
  }

  find(id) {
    return this.pinned.find((c) => c.id === id) || this.recent.find((c) => c.id === id) || null;
  }

  // A conversation that was just created or renamed goes to the top of its list.
  upsert(conversation) {
    const pinned = this.pinned.some((c) => c.id === conversation.id);
    this.pinned = this.pinned.map((c) => (c.id === conversation.id ? conversation : c));
    if (!pinned) this.recent = [conversation, ...this.recent.filter((c) => c.id !== conversation.id)];
    this.render();
  }

  remove(id) {
    this.pinned = this.pinned.filter((c) => c.id !== id);
    this.recent = this.recent.filter((c) => c.id !== id);
    this.render();
  }

  async togglePin(conversation, pinned) {
    try {
      await this.ctx.api.patch(`conversations/${conversation.id}/${pinned ? "unpin" : "pin"}`);
      await this.load();
    } catch (error) {
      this.ctx.actions.error(error.message);
    }
  }

  async rename(conversation, name) {
    this.editing = null;
    if (!name || name === conversation.name) {
      this.render();
      return;
    }
    try {
      const renamed = await this.ctx.api.post(`conversations/${conversation.id}/name`, { name });
      this.pinned = this.pinned.map((c) => (c.id === renamed.id ? renamed : c));
      this.recent = this.recent.map((c) => (c.id === renamed.id ? renamed : c));
      this.ctx.actions.renamed(renamed);
    } catch (error) {
      this.ctx.actions.error(error.message);
    }
    this.render();
  }

  async delete(conversation) {
    if (!(await confirmDialog(`Delete “${conversation.name || "New conversation"}”? This cannot be undone.`))) return;
    try {
      await this.ctx.api.delete(`conversations/${conversation.id}`);
      this.remove(conversation.id);
      this.ctx.actions.deleted(conversation.id);
    } catch (error) {
      this.ctx.actions.error(error.message);
    }
  }

  item(conversation, pinned) {
    const active = conversation.id === this.ctx.state.conversationId;
    if (this.editing === conversation.id) {
      const input = h("input", { class: "input rename-input", value: conversation.name, maxlength: 255,
        "aria-label": "Conversation name" });
      let done = false;
      const finish = (save) => {
        if (done) return;
        done = true;
        if (save) this.rename(conversation, input.value.trim());
        else {
          this.editing = null;
          this.render();
        }
      };
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.isComposing) finish(true);
        if (event.key === "Escape") finish(false);
      });
      input.addEventListener("blur", () => finish(true));
      setTimeout(() => {
        input.focus();
        input.select();
      });
      return h("li", { class: "conversation editing" }, input);
    }
    return h("li", { class: `conversation${active ? " active" : ""}`, dataset: { id: conversation.id } },
      h("button", { type: "button", class: "conversation-name", "aria-current": active ? "page" : null,
        title: conversation.name, onClick: () => this.ctx.actions.open(conversation.id) },
      icon("chat"), h("span", { text: conversation.name || "New conversation" })),
      h("div", { class: "conversation-actions" },
        iconButton(pinned ? "unpin" : "pin", pinned ? "Unpin" : "Pin", () => this.togglePin(conversation, pinned)),
        iconButton("edit", "Rename", () => {
          this.editing = conversation.id;
          this.render();
        }),
        iconButton("trash", "Delete", () => this.delete(conversation))));
  }

  render() {
    const groups = [];
    if (this.pinned.length) {
      groups.push(h("h2", { class: "list-title", text: "Pinned" }),
        h("ul", { class: "conversation-list pinned" }, this.pinned.map((c) => this.item(c, true))));
    }
    groups.push(h("h2", { class: "list-title", text: "Chats" }));
    if (this.recent.length) {
      groups.push(h("ul", { class: "conversation-list recent" }, this.recent.map((c) => this.item(c, false))));
    } else {
      groups.push(h("p", { class: "list-empty", text: "No conversations yet." }));
    }
    this.list.replaceChildren(...groups, this.sentinel);
    this.observer.disconnect();
    if (this.hasMore) this.observer.observe(this.sentinel);
  }
}
