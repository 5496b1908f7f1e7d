// alligator dashboard: polls the JSON API, draws the history, runs actions.
//
// Safety rule for this file: text from the server (task ids, callables,
// reasons: untrusted message content) only ever reaches the page as text,
// through textContent, Node.append(string) or setAttribute. Nothing here
// uses innerHTML, insertAdjacentHTML, document.write or eval.
"use strict";

(function () {
  const pollMs = Math.max(250, Number(document.body.dataset.pollSeconds) * 1000 || 3000);
  const csrfToken = meta("csrf-token");
  const csrfHeader = meta("csrf-header") || "X-CSRF-Token";
  // Samples kept per queue: an hour at the default refresh.
  const MAX_SAMPLES = 1200;
  const COUNTS = [
    { key: "visible", label: "visible", cls: "s-visible" },
    { key: "in_flight", label: "in flight", cls: "s-inflight" },
    { key: "delayed", label: "delayed", cls: "s-delayed" },
    { key: "dlq_depth", label: "DLQ", cls: "s-dlq" },
  ];
  const AGE = [{ key: "oldest_age_seconds", label: "oldest age", cls: "s-age" }];
  const cards = new Map();
  const { draw, svg, clock } = window.alligatorPlot;

  function meta(name) {
    const node = document.querySelector('meta[name="' + name + '"]');
    return node ? node.getAttribute("content") : "";
  }

  // An element with attributes, listeners and children; strings become
  // text nodes.
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  async function api(path, body) {
    const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers[csrfHeader] = csrfToken;
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      let reason = (data && (data.error || data.message)) || response.status + " " + response.statusText;
      if (response.status === 401) reason += " (open the dashboard's login link again)";
      const error = new Error(reason);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // -- formatting --------------------------------------------------------------

  function humanSeconds(seconds) {
    let whole = Math.floor(seconds);
    if (whole < 60) return Math.round(seconds) + " s";
    const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
    const parts = [];
    for (const [name, size] of units) {
      if (whole >= size || parts.length) {
        parts.push(Math.floor(whole / size) + " " + name);
        whole %= size;
      }
      if (parts.length === 2) break;
    }
    return parts.join(" ");
  }

  function shortNumber(value) {
    if (value >= 10000) return Math.round(value / 1000) + "k";
    return String(Math.round(value * 10) / 10);
  }

  function ageLabel(seconds) {
    return seconds >= 60 ? humanSeconds(seconds) : Math.round(seconds * 10) / 10 + " s";
  }

  function legend(series) {
    return h(
      "ul",
      { class: "legend" },
      ...series.map((one) => h("li", {}, h("span", { class: "swatch " + one.cls }), one.label))
    );
  }

  // -- one queue -----------------------------------------------------------------

  function card(queue) {
    if (cards.has(queue.index)) return cards.get(queue.index);
    const figures = {};
    const figureList = h("div", { class: "figures" });
    for (const [key, label] of [
      ["visible", "visible"],
      ["in_flight", "in flight"],
      ["delayed", "delayed"],
      ["dlq_depth", "DLQ"],
      ["oldest_age_seconds", "oldest age"],
    ]) {
      figures[key] = h("span", { class: "value" }, "–");
      figureList.append(h("div", { class: "figure figure-" + key }, figures[key], h("span", { class: "name" }, label)));
    }
    // Widths in proportion to the columns they sit in, so text is one size.
    const counts = svg("svg", { class: "chart counts", viewBox: "0 0 640 170", "data-width": 640, role: "img", "aria-label": "queue depths since the page was opened" });
    const age = svg("svg", { class: "chart age", viewBox: "0 0 320 170", "data-width": 320, role: "img", "aria-label": "oldest message age since the page was opened" });
    const ageNote = h("figcaption", { class: "muted" });
    const includePoison = h("input", { type: "checkbox", class: "include-poison" });
    const tbody = h("tbody");
    const table = h(
      "table",
      { class: "dead", hidden: "" },
      h("thead", {}, h("tr", {}, ...["Task id", "Callable", "Reason", "Attempts", "Failed at", ""].map((title) => h("th", { scope: "col" }, title)))),
      tbody
    );
    const entry = {
      index: queue.index,
      name: queue.queue,
      samples: [],
      dlqDepth: undefined,
      figures,
      counts,
      age,
      ageNote,
      tbody,
      table,
      includePoison,
      error: h("p", { class: "error", hidden: "" }),
      dlqTitle: h("span", { class: "muted" }),
      dlqNote: h("p", { class: "muted dlq-note" }),
      toolbar: null,
    };
    entry.toolbar = h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", class: "redrive-all", onclick: () => redriveAll(entry) }, "Redrive all"),
      h("button", { type: "button", class: "delete-all danger", onclick: () => deleteAll(entry) }, "Delete all"),
      h("label", {}, includePoison, " include poison"),
      h("button", { type: "button", class: "refresh", onclick: () => loadDead(entry) }, "Refresh")
    );
    const node = h(
      "article",
      { class: "queue", id: "queue-" + queue.index },
      h("h2", {}, queue.queue, " ", h("span", { class: "muted label" }, queue.label)),
      entry.error,
      figureList,
      h(
        "div",
        { class: "charts" },
        h("figure", {}, counts, legend(COUNTS)),
        h("figure", {}, age, legend(AGE), ageNote)
      ),
      h("section", { class: "dlq" }, h("h3", {}, "Dead-letter queue ", entry.dlqTitle), entry.toolbar, entry.dlqNote, table)
    );
    document.getElementById("queues").append(node);
    cards.set(queue.index, entry);
    return entry;
  }

  function update(queue) {
    const entry = card(queue);
    entry.error.hidden = !queue.error;
    entry.error.textContent = queue.error || "";
    if (queue.error) return;
    entry.samples.push({
      t: Date.now(),
      visible: queue.visible,
      in_flight: queue.in_flight,
      delayed: queue.delayed,
      dlq_depth: queue.dlq_depth,
      oldest_age_seconds: queue.oldest_age_seconds,
    });
    if (entry.samples.length > MAX_SAMPLES) entry.samples.shift();
    for (const key of ["visible", "in_flight", "delayed"]) entry.figures[key].textContent = String(queue[key]);
    entry.figures.dlq_depth.textContent = queue.dlq_depth === null ? "none" : String(queue.dlq_depth);
    entry.figures.dlq_depth.classList.toggle("alert", Boolean(queue.dlq_depth));
    const age = entry.figures.oldest_age_seconds;
    age.textContent = queue.oldest_age_seconds === null ? "n/a" : humanSeconds(queue.oldest_age_seconds);
    age.setAttribute("title", queue.oldest_age_note || "");
    draw(entry.counts, entry.samples, COUNTS, shortNumber);
    draw(entry.age, entry.samples, AGE, ageLabel);
    entry.ageNote.textContent = queue.oldest_age_note || "";
    if (queue.dlq_depth !== entry.dlqDepth) {
      entry.dlqDepth = queue.dlq_depth;
      loadDead(entry);
    }
  }

  // -- the dead-letter queue -----------------------------------------------------

  async function loadDead(entry) {
    try {
      showDead(entry, await api("/api/queues/" + entry.index + "/dlq"));
    } catch (error) {
      entry.dlqNote.textContent = error.message;
    }
  }

  function showDead(entry, data) {
    entry.dlqTitle.textContent = data.dlq || "";
    const usable = !data.error;
    entry.toolbar.hidden = !usable || data.messages.length === 0;
    if (!usable) {
      entry.dlqNote.textContent = data.error;
      entry.table.hidden = true;
      return;
    }
    const shown = data.messages.length;
    entry.dlqNote.textContent = shown
      ? shown + " shown of about " + data.depth + " in " + data.dlq
      : "The dead-letter queue " + data.dlq + " is empty.";
    entry.tbody.replaceChildren(...data.messages.map((message) => deadRow(entry, message)));
    entry.table.hidden = shown === 0;
  }

  function deadRow(entry, message) {
    const what = message.task_id ? "task " + message.task_id : "message " + message.message_id;
    const reason = h(
      "td",
      { class: "reason" },
      message.error === null ? h("span", { class: "muted" }, "(no reason attached: moved by the queue's redrive policy?)") : message.error
    );
    if (message.poison) reason.prepend(h("span", { class: "badge" }, "poison"), " ");
    const row = h(
      "tr",
      { class: message.poison ? "poison" : "" },
      h("td", { class: "mono" }, message.task_id || "–"),
      h("td", { class: "mono" }, message.callable || (message.task_id ? "–" : "(not a task)")),
      reason,
      h("td", { class: "num" }, message.attempts === null ? "–" : String(message.attempts)),
      h("td", { class: "when" }, message.failed_at || "–"),
      h(
        "td",
        { class: "actions" },
        h("button", {
          type: "button",
          class: "redrive",
          onclick: () =>
            confirmThen("Redrive " + what + " back to the queue " + entry.name + "?", "Redrive", () =>
              act(entry, "redrive", { message_id: message.message_id })
            ),
        }, "Redrive"),
        h("button", {
          type: "button",
          class: "delete danger",
          onclick: () =>
            confirmThen("Delete " + what + " for good? It cannot be undone.", "Delete", () =>
              act(entry, "delete", { message_id: message.message_id })
            ),
        }, "Delete")
      )
    );
    row.setAttribute("data-message-id", message.message_id);
    return row;
  }

  function redriveAll(entry) {
    const poison = entry.includePoison.checked;
    const text =
      "Redrive every message of the dead-letter queue back to " + entry.name +
      (poison ? ", poison messages included?" : "? Poison messages stay.");
    confirmThen(text, "Redrive all", () => act(entry, "redrive", { all: true, include_poison: poison }));
  }

  function deleteAll(entry) {
    confirmThen(
      "Delete every message of the dead-letter queue of " + entry.name + " for good? It cannot be undone.",
      "Delete all",
      () => act(entry, "delete", { all: true })
    );
  }

  async function act(entry, verb, body) {
    notice("Working…", "busy");
    try {
      const answer = await api("/api/queues/" + entry.index + "/" + verb, body);
      notice(answer.message, "ok");
    } catch (error) {
      notice(error.message, "error");
    }
    loadDead(entry);
  }

  function notice(text, kind) {
    const node = document.getElementById("notice");
    node.textContent = text;
    node.className = "notice " + kind;
    node.hidden = false;
  }

  // -- the confirmation step -----------------------------------------------------

  const dialog = document.getElementById("confirm");
  let pending = null;

  function confirmThen(text, verb, action) {
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = verb;
    pending = action;
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  }

  document.getElementById("confirm-ok").addEventListener("click", () => {
    const action = pending;
    pending = null;
    dialog.close();
    if (action) action();
  });
  document.getElementById("confirm-cancel").addEventListener("click", () => {
    pending = null;
    dialog.close();
  });
  dialog.addEventListener("cancel", () => {
    pending = null;
  });

  // -- a task's state ------------------------------------------------------------

  const taskInput = document.getElementById("task-id");
  const taskNote = document.getElementById("task-note");
  const taskState = document.getElementById("task-state");

  async function lookUp() {
    const id = taskInput.value.trim();
    if (!id) return;
    taskNote.textContent = "Looking up…";
    try {
      const answer = await api("/api/task?id=" + encodeURIComponent(id));
      showTask(answer.task);
      taskNote.textContent = "";
    } catch (error) {
      taskState.hidden = true;
      taskNote.textContent = error.message;
    }
  }

  function showTask(task) {
    const when = (seconds) => (seconds ? new Date(seconds * 1000).toISOString() : "–");
    const rows = [
      ["task id", task.task_id],
      ["status", task.status],
      ["attempts", String(task.attempts)],
      ["result", task.result === null ? "–" : JSON.stringify(task.result, null, 2)],
      ["error", task.error || "–"],
      ["created", when(task.created_at)],
      ["updated", when(task.updated_at)],
    ];
    taskState.replaceChildren();
    for (const [name, value] of rows) {
      taskState.append(h("dt", {}, name), h("dd", { class: "field-" + name.replace(" ", "-") }, name === "result" ? h("pre", {}, value) : value));
    }
    taskState.hidden = false;
  }

  document.getElementById("task-look").addEventListener("click", lookUp);
  taskInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") lookUp();
  });

  // -- polling -------------------------------------------------------------------

  function live(ok, text) {
    const node = document.getElementById("live");
    node.textContent = text;
    node.classList.toggle("down", !ok);
  }

  async function poll() {
    try {
      const data = await api("/api/stats");
      for (const queue of data.queues) update(queue);
      document.getElementById("task-note").textContent = data.status_store
        ? taskNote.textContent
        : "No status store: start the dashboard with --status STATUS_DSN to look tasks up.";
      live(true, "live · " + clock(Date.now()));
    } catch (error) {
      live(false, "offline: " + error.message);
    } finally {
      window.setTimeout(poll, pollMs);
    }
  }

  poll();
})();
