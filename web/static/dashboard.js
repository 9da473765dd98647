// The live dashboard: ticketStats as bar charts and the ticket event feed, over one WebSocket
// (graphql-transport-ws, the graphql-ws browser build). The token is kept in sessionStorage and
// sent only in connection_init; it never goes into a URL. After a dropped connection the feed
// resubscribes with `after` = the last event id it showed, so the server replays what was missed.
"use strict";

(function () {
  const TOKEN_KEY = "helpdesk.token";
  const FEED_LIMIT = 100;
  const STATUSES = ["OPEN", "IN_PROGRESS", "AWAITING_REPLY", "CLOSED", "REJECTED"];
  const STATS = `subscription DashboardStats {
    ticketStatsChanged {
      countsByStatus { status count }
      activeByCategory { count category { slug name(locale: EN) } }
      urgentActive
      oldestOpenCreatedAt
      computedAt
    }
  }`;
  const EVENTS = `subscription DashboardEvents($after: String) {
    ticketEvents(after: $after) {
      id kind at fromStatus toStatus urgent
      actor { name }
      ticket { id number summary }
    }
  }`;

  const $ = (id) => document.getElementById(id);
  const endpoint = new URL(document.body.dataset.endpoint, window.location.href);
  endpoint.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  let client = null;
  let lastEventId = null; // ids are opaque strings, taken from the server's answers
  let oldestOpen = null;
  let retries = 0;
  let timers = [];

  // --- rendering ---------------------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // rows: [{key, label, count, kind}] → a horizontal bar chart, one row per entry.
  function barChart(chart, rows, keyName) {
    const rowHeight = 26;
    const labelWidth = 170;
    const barWidth = 220;
    const max = Math.max(1, ...rows.map((row) => row.count));
    chart.replaceChildren();
    chart.setAttribute("viewBox", `0 0 ${labelWidth + barWidth + 50} ${rows.length * rowHeight}`);
    rows.forEach((row, index) => {
      const y = index * rowHeight;
      const group = svg("g", { class: `bar ${row.kind || ""}`, [keyName]: row.key, "data-count": row.count });
      group.append(
        svg("text", { x: labelWidth - 8, y: y + 17, "text-anchor": "end", class: "label" }, row.label),
        svg("rect", { x: labelWidth, y: y + 4, height: rowHeight - 8, rx: 3, width: Math.max(2, (row.count / max) * barWidth) }),
        svg("text", { x: labelWidth + Math.max(2, (row.count / max) * barWidth) + 6, y: y + 17, class: "count" }, row.count),
      );
      chart.append(group);
    });
  }

  function age(since) {
    const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 60000));
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function showOldest() {
    $("oldest-open").textContent = oldestOpen ? age(oldestOpen) : "none open";
  }

  function showStats(stats) {
    const counts = new Map(stats.countsByStatus.map((item) => [item.status, item.count]));
    barChart(
      $("status-chart"),
      STATUSES.map((status) => ({
        key: status,
        label: status.replace("_", " ").toLowerCase(),
        count: counts.get(status) || 0,
        kind: status.toLowerCase(),
      })),
      "data-status",
    );
    barChart(
      $("category-chart"),
      stats.activeByCategory.map((item) => ({
        key: item.category.slug,
        label: item.category.name,
        count: item.count,
        kind: "category",
      })),
      "data-category",
    );
    $("urgent-active").textContent = String(stats.urgentActive);
    oldestOpen = stats.oldestOpenCreatedAt;
    showOldest();
    $("computed-at").textContent = new Date(stats.computedAt).toLocaleTimeString();
  }

  function describe(event) {
    switch (event.kind) {
      case "STATUS_CHANGED":
        return `${event.fromStatus} → ${event.toStatus}`;
      case "URGENCY_CHANGED":
        return event.urgent ? "marked urgent" : "no longer urgent";
      default:
        return event.kind.replaceAll("_", " ").toLowerCase();
    }
  }

  function showEvent(event) {
    const item = document.createElement("li");
    item.dataset.eventId = event.id;
    item.dataset.kind = event.kind;
    const time = document.createElement("time");
    time.dateTime = event.at;
    time.textContent = new Date(event.at).toLocaleTimeString();
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = describe(event);
    const ticket = document.createElement("span");
    ticket.className = "ticket";
    ticket.textContent = event.ticket ? `#${event.ticket.number} ${event.ticket.summary}` : "";
    const actor = document.createElement("span");
    actor.className = "actor";
    actor.textContent = event.actor.name;
    item.append(time, what, ticket, actor);
    const feed = $("feed");
    feed.prepend(item);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  }

  function connection(state, text) {
    const badge = $("connection");
    badge.dataset.state = state;
    badge.textContent = text || state;
  }

  // --- the connection ----------------------------------------------------------------------

  function unauthenticated(errors) {
    return (errors || []).some((error) => (error.extensions || {}).code === "UNAUTHENTICATED");
  }

  function later(action) {
    const delay = Math.min(10000, 500 * 2 ** retries);
    retries += 1;
    timers.push(window.setTimeout(action, delay));
  }

  // Subscribes, and subscribes again after a dropped connection (`variables()` is read anew).
  function follow(query, variables, onData) {
    client.subscribe(
      { query, variables: variables() },
      {
        next(result) {
          if (unauthenticated(result.errors)) return signOut("The token expired or was refused: sign in again.");
          if (result.errors) console.error(result.errors);
          if (result.data) {
            retries = 0;
            onData(result.data);
          }
        },
        error(error) {
          if (!client) return;
          if (error && error.code === 4403) return signOut("The token was refused: sign in again.");
          connection("reconnecting");
          later(() => client && follow(query, variables, onData));
        },
        complete() {},
      },
    );
  }

  function start(token) {
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    connection("connecting");
    client = graphqlWs.createClient({
      url: endpoint.href,
      connectionParams: { Authorization: `Bearer ${token}` },
      lazy: true,
      retryAttempts: 0, // reconnects are ours: the feed resumes from the last event it showed
      on: {
        connected: () => connection("live"),
        closed: () => client && connection("reconnecting"),
      },
    });
    // The feed first: it is listening before the first figures arrive.
    follow(EVENTS, () => ({ after: lastEventId }), (data) => {
      lastEventId = data.ticketEvents.id;
      showEvent(data.ticketEvents);
    });
    follow(STATS, () => ({}), (data) => showStats(data.ticketStatsChanged));
    timers.push(window.setInterval(showOldest, 30000));
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    const closing = client;
    client = null;
    if (closing) closing.dispose();
    timers.forEach((timer) => window.clearTimeout(timer));
    timers = [];
    lastEventId = null;
    retries = 0;
    $("feed").replaceChildren();
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").hidden = !message;
    $("sign-in-error").textContent = message || "";
    connection("signed-out", "signed out");
  }

  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("token");
    const token = field.value.trim().replace(/^Bearer\s+/i, "");
    field.value = "";
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("sign-in-error").hidden = true;
    start(token);
  });
  $("sign-out").addEventListener("click", () => signOut());

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) start(saved);
})();
