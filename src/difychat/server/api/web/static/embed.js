/* The chat bubble for any web page, configured by window.difyChatbotConfig as Dify's embed script
   is: token (the site code), baseUrl, inputs, systemVariables, userVariables, draggable, dragAxis,
   containerProps, dynamicScript. It adds the bubble button and a hidden frame of
   <baseUrl>/chatbot/<token>, whose URL carries each value gzip-compressed and base64-encoded. */
(function () {
  "use strict";

  var BUTTON_ID = "dify-chatbot-bubble-button";
  var WINDOW_ID = "dify-chatbot-bubble-window";
  var STYLE_ID = "dify-chatbot-bubble-style";
  var OPEN_ICON = "M5 5h14v10H9l-4 4z";
  var CLOSE_ICON = "M7 7l10 10M17 7 7 17";

  var config = window.difyChatbotConfig;
  if (!config || !config.token) {
    console.error("difyChatbotConfig is missing, or has no token");
    return;
  }
  var baseUrl = String(config.baseUrl || (config.isDev ? "https://dev.udify.app" : "https://udify.app"))
    .replace(/\/+$/, "");
  var origin = new URL(baseUrl, location.href).origin;

  function encoded(value) {
    // UTF-8, gzip, standard base64 (the page reverses it); URL-encoding is left to the caller.
    var bytes = new TextEncoder().encode(String(value));
    var stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      var binary = "";
      var view = new Uint8Array(buffer);
      for (var i = 0; i < view.length; i += 1) binary += String.fromCharCode(view[i]);
      return btoa(binary);
    });
  }

  function frameUrl() {
    var entries = [];
    var add = function (prefix, values) {
      Object.keys(values || {}).forEach(function (key) {
        if (values[key] !== undefined && values[key] !== null) entries.push([prefix + key, values[key]]);
      });
    };
    add("", config.inputs);
    add("sys.", config.systemVariables);
    add("user.", config.userVariables);
    return Promise.all(entries.map(function (entry) {
      return encoded(entry[1]).then(function (value) {
        return encodeURIComponent(entry[0]) + "=" + encodeURIComponent(value);
      });
    })).then(function (pairs) {
      var url = baseUrl + "/chatbot/" + encodeURIComponent(config.token) + (pairs.length ? "?" + pairs.join("&") : "");
      if (url.length > 2048) console.error("The chatbot URL is longer than 2048 characters; some browsers may cut it.");
      return url;
    });
  }

  function css() {
    var v = function (name, fallback) {
      return "var(--dify-chatbot-bubble-button-" + name + ", " + fallback + ")";
    };
    return [
      "#" + BUTTON_ID + "{position:fixed;bottom:" + v("bottom", "1rem") + ";right:" + v("right", "1rem") +
        ";left:" + v("left", "unset") + ";top:" + v("top", "unset") + ";width:" + v("width", "48px") +
        ";height:" + v("height", "48px") + ";border-radius:" + v("border-radius", "25px") +
        ";background-color:" + v("bg-color", "#155EEF") + ";box-shadow:" +
        v("box-shadow", "rgba(0,0,0,.2) 0 4px 8px 0") +
        ";cursor:pointer;z-index:2147483647;display:flex;align-items:center;justify-content:center;" +
        "transition:transform .2s ease;touch-action:none;user-select:none}",
      "#" + BUTTON_ID + ":hover{transform:scale(1.06)}",
      "#" + BUTTON_ID + " svg{width:24px;height:24px;fill:none;stroke:#fff;stroke-width:2;stroke-linecap:round;" +
        "stroke-linejoin:round;pointer-events:none}",
      "#" + WINDOW_ID + "{position:fixed;display:none;flex-direction:column;justify-content:space-between;" +
        "width:24rem;height:43.75rem;max-width:calc(100vw - 2rem);max-height:calc(100vh - 6rem);" +
        "border:none;border-radius:1rem;z-index:2147483640;overflow:hidden;background:#fff;" +
        "box-shadow:rgba(150,150,150,.2) 0 10px 30px 0,rgba(150,150,150,.2) 0 0 0 1px;" +
        "transition:width .2s ease,height .2s ease}",
      "#" + WINDOW_ID + ".dify-chatbot-expanded{width:48%;height:88%;min-width:24rem;max-width:40rem}",
    ].join("\n");
  }

  function applyContainerProps(element) {
    var props = config.containerProps || {};
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (key === "className") {
        String(value).split(/\s+/).filter(Boolean).forEach(function (name) { element.classList.add(name); });
      } else if (key === "style") {
        if (typeof value === "string") element.style.cssText += ";" + value;
        else Object.assign(element.style, value);
      } else if (/^on[A-Z]/.test(key) && typeof value === "function") {
        element.addEventListener(key.slice(2).toLowerCase(), value);
      } else {
        try {
          element[key] = value;
        } catch (error) {
          element.setAttribute(key, String(value));
        }
      }
    });
  }

  function iconSvg(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var shape = document.createElementNS(ns, "path");
    shape.setAttribute("d", path);
    svg.appendChild(shape);
    return svg;
  }

  function place(button, frame) {
    if (window.innerWidth <= 640) {
      frame.style.left = "";
      frame.style.right = "1rem";
      frame.style.bottom = "5rem";
      frame.style.top = "";
      return;
    }
    // Open above the bubble, on the side of the screen the bubble is on.
    var box = button.getBoundingClientRect();
    var onLeft = box.left + box.width / 2 < window.innerWidth / 2;
    frame.style.left = onLeft ? Math.max(16, box.left) + "px" : "";
    frame.style.right = onLeft ? "" : Math.max(16, window.innerWidth - box.right) + "px";
    var below = window.innerHeight - box.top;
    if (box.top > window.innerHeight / 2) {
      frame.style.bottom = below + 12 + "px";
      frame.style.top = "";
    } else {
      frame.style.top = box.bottom + 12 + "px";
      frame.style.bottom = "";
    }
  }

  function makeDraggable(button, frame) {
    var axis = config.dragAxis || "both";
    var start = null;
    var moved = false;
    button.addEventListener("pointerdown", function (event) {
      var box = button.getBoundingClientRect();
      start = { x: event.clientX, y: event.clientY, left: box.left, top: box.top };
      moved = false;
      button.setPointerCapture(event.pointerId);
    });
    button.addEventListener("pointermove", function (event) {
      if (!start) return;
      var dx = event.clientX - start.x;
      var dy = event.clientY - start.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      moved = true;
      var box = button.getBoundingClientRect();
      if (axis !== "y") {
        button.style.left = Math.min(window.innerWidth - box.width, Math.max(0, start.left + dx)) + "px";
        button.style.right = "unset";
      }
      if (axis !== "x") {
        button.style.top = Math.min(window.innerHeight - box.height, Math.max(0, start.top + dy)) + "px";
        button.style.bottom = "unset";
      }
      if (frame.style.display !== "none") place(button, frame);
    });
    button.addEventListener("pointerup", function () {
      start = null;
    });
    // A drag is not a click.
    button.addEventListener("click", function (event) {
      if (moved) {
        event.stopImmediatePropagation();
        moved = false;
      }
    }, true);
  }

  function embed() {
    if (document.getElementById(BUTTON_ID)) return;
    if (!document.getElementById(STYLE_ID)) {
      var style = document.createElement("style");
      style.id = STYLE_ID;
      style.textContent = css();
      document.head.appendChild(style);
    }
    var frame = document.createElement("iframe");
    frame.id = WINDOW_ID;
    frame.title = "Chatbot";
    frame.allow = "fullscreen;microphone";
    frame.style.display = "none";
    frameUrl().then(function (url) {
      frame.src = url;
    });
    document.body.appendChild(frame);

    var button = document.createElement("div");
    button.id = BUTTON_ID;
    button.setAttribute("role", "button");
    button.setAttribute("tabindex", "0");
    button.setAttribute("aria-label", "Open the chat");
    var openIcon = iconSvg(OPEN_ICON);
    var closeIcon = iconSvg(CLOSE_ICON);
    closeIcon.style.display = "none";
    button.appendChild(openIcon);
    button.appendChild(closeIcon);
    applyContainerProps(button);
    document.body.appendChild(button);

    var show = function (open) {
      frame.style.display = open ? "flex" : "none";
      openIcon.style.display = open ? "none" : "block";
      closeIcon.style.display = open ? "block" : "none";
      button.setAttribute("aria-label", open ? "Close the chat" : "Open the chat");
      if (open) place(button, frame);
    };
    button.addEventListener("click", function () {
      show(frame.style.display === "none");
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        show(frame.style.display === "none");
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && frame.style.display !== "none") show(false);
    });
    window.addEventListener("resize", function () {
      if (frame.style.display !== "none") place(button, frame);
    });
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || event.source !== frame.contentWindow || !event.data) return;
      if (event.data.type === "dify-chatbot-iframe-ready") {
        frame.contentWindow.postMessage({
          type: "dify-chatbot-config",
          payload: { isToggledByButton: true, isDraggable: Boolean(config.draggable) },
        }, origin);
      } else if (event.data.type === "dify-chatbot-expand-change") {
        frame.classList.toggle("dify-chatbot-expanded");
        place(button, frame);
      }
    });
    if (config.draggable) makeDraggable(button, frame);
  }

  if (config.dynamicScript || document.readyState === "complete") embed();
  else window.addEventListener("load", embed);
})();
