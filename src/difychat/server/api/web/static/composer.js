// The message box: Enter sends, Shift+Enter starts a new line; files (picked, pasted or linked) as
// the app allows; voice input when speech-to-text is on; a stop button while an answer streams.

import { h, icon, iconButton, promptDialog } from "./dom.js";
import { appRules, typeFor, upload } from "./files.js";
import { WavRecorder } from "./voice.js";

export class Composer {
  constructor(ctx) {
    this.ctx = ctx;
    this.rules = appRules(ctx.parameters.file_upload);
    this.files = []; // {type, id | url, name, preview, uploading}
    this.textarea = h("textarea", { class: "composer-input", rows: 1, placeholder: "Ask a question…",
      "aria-label": "Message", maxlength: 100000 });
    this.textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.textarea.addEventListener("input", () => this.resize());
    this.textarea.addEventListener("paste", (event) => {
      const pasted = [...(event.clipboardData?.files || [])];
      if (pasted.length && this.rules.enabled && this.rules.local) {
        event.preventDefault();
        this.addFiles(pasted);
      }
    });
    this.chips = h("ul", { class: "file-chips composer-files" });
    this.picker = h("input", { type: "file", class: "file-input", multiple: this.rules.limit > 1,
      accept: this.rules.accept || null, "aria-hidden": "true", tabindex: "-1" });
    this.picker.addEventListener("change", () => {
      this.addFiles([...this.picker.files]);
      this.picker.value = "";
    });
    this.sendButton = h("button", { type: "submit", class: "send-button", title: "Send", "aria-label": "Send" },
      icon("send"));
    this.stopButton = h("button", { type: "button", class: "stop-button", title: "Stop responding",
      "aria-label": "Stop responding", hidden: true, onClick: () => ctx.actions.stop() },
    icon("stop"), h("span", { text: "Stop" }));
    const tools = [];
    if (this.rules.enabled && this.rules.local) {
      tools.push(iconButton("clip", "Attach a file", () => this.picker.click()));
    }
    if (this.rules.enabled && this.rules.remote) {
      tools.push(iconButton("link", "Attach a file by its link", () => this.addLink()));
    }
    if (ctx.parameters.speech_to_text?.enabled && navigator.mediaDevices) {
      this.mic = iconButton("mic", "Voice input", () => this.toggleVoice());
      tools.push(this.mic);
    }
    this.form = h("form", { class: "composer" }, this.chips,
      h("div", { class: "composer-row" }, tools, this.textarea, this.picker, this.stopButton, this.sendButton));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  resize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 200)}px`;
  }

  focus() {
    this.textarea.focus();
  }

  setResponding(responding) {
    this.stopButton.hidden = !responding;
    this.sendButton.hidden = responding;
  }

  submit() {
    const query = this.textarea.value.trim();
    if (!query || this.ctx.state.responding) return;
    if (this.files.some((f) => f.uploading)) {
      this.ctx.actions.error("Wait for the files to finish uploading.");
      return;
    }
    const files = this.files;
    this.files = [];
    this.drawFiles();
    this.textarea.value = "";
    this.resize();
    this.ctx.actions.send(query, files);
  }

  async addFiles(list) {
    for (const file of list) {
      if (this.files.length >= this.rules.limit) {
        this.ctx.actions.error(`At most ${this.rules.limit} file(s) per message.`);
        break;
      }
      const type = typeFor(this.rules, file.name, file.type);
      if (!type) {
        this.ctx.actions.error(`${file.name}: this kind of file is not accepted here.`);
        continue;
      }
      const item = { type, name: file.name, uploading: true,
        preview: type === "image" ? URL.createObjectURL(file) : null };
      this.files.push(item);
      this.drawFiles();
      try {
        const record = await upload(this.ctx.api, file);
        item.id = record.id;
        item.uploading = false;
      } catch (error) {
        this.files = this.files.filter((f) => f !== item);
        this.ctx.actions.error(`${file.name}: ${error.message}`);
      }
      this.drawFiles();
    }
  }

  async addLink() {
    const url = await promptDialog("Link to a file", "https://…");
    if (!url) return;
    if (!/^https?:\/\//i.test(url)) {
      this.ctx.actions.error("A link must start with http:// or https://.");
      return;
    }
    const name = decodeURIComponent(url.split(/[?#]/)[0].split("/").pop() || url);
    const type = typeFor(this.rules, name, "") || (this.rules.types.includes("image") ? "image" : this.rules.types[0]);
    if (this.files.length >= this.rules.limit) {
      this.ctx.actions.error(`At most ${this.rules.limit} file(s) per message.`);
      return;
    }
    this.files.push({ type, url, name });
    this.drawFiles();
  }

  drawFiles() {
    this.chips.replaceChildren(...this.files.map((file) => h("li", { class: `file-chip${file.uploading ? " busy" : ""}` },
      file.preview ? h("img", { src: file.preview, alt: "", class: "chip-thumb" }) : icon(file.url ? "link" : "file"),
      h("span", { text: file.uploading ? `${file.name} (uploading…)` : file.name }),
      iconButton("close", `Remove ${file.name}`, () => {
        this.files = this.files.filter((f) => f !== file);
        this.drawFiles();
      }))));
  }

  async toggleVoice() {
    if (this.recorder) {
      const recorder = this.recorder;
      this.recorder = null;
      this.mic.classList.remove("recording");
      this.mic.title = "Voice input";
      try {
        const wav = await recorder.stop();
        const form = new FormData();
        form.append("file", wav, "voice.wav");
        this.mic.classList.add("busy");
        const { text } = await this.ctx.api.upload("audio-to-text", form);
        this.textarea.value = [this.textarea.value.trim(), text].filter(Boolean).join(" ");
        this.resize();
        this.focus();
      } catch (error) {
        this.ctx.actions.error(error.message);
      } finally {
        this.mic.classList.remove("busy");
      }
      return;
    }
    try {
      const recorder = new WavRecorder();
      await recorder.start();
      this.recorder = recorder;
      this.mic.classList.add("recording");
      this.mic.title = "Stop recording";
    } catch {
      this.ctx.actions.error("The microphone is not available.");
    }
  }
}
