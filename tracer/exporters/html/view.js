// The case view's behaviour. Every string from the case is inserted with textContent (never
// as HTML); strings drawn by Plotly are entity-escaped (in Python when the page was written,
// or by plotlyText here). Nodes and edges arrive column-wise (columns.py): their evidence is
// built here when one is clicked, amounts by exact string arithmetic (amounts.js).
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("case-data").textContent);
  const nodes = data.nodes;
  const edges = data.edges;
  const assets = data.assets;
  const nodeIndex = new Map(nodes.id.map((id, index) => [id, index]));
  // Per node, the transactions listed in its panel (the edges themselves are all clickable).
  const MAX_LISTED_TRANSFERS = 25;

  // Text Plotly may render as HTML, made inert (as figures.plotly_text does in Python).
  function plotlyText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function amountText(asset, raw) {
    return `${tracerAmounts.display(raw, assets.decimals[asset])} ${assets.unit[asset]}`;
  }

  // A node's entity, else its first label, else null (as model.node_name).
  function nodeName(index) {
    const labels = nodes.labels[index] || [];
    return nodes.entity[index] || labels[0] || null;
  }

  function named(index) {
    const name = nodeName(index);
    return name ? `${nodes.id[index]} (${name})` : nodes.id[index];
  }

  function listed(lines) {
    if (lines.length === 0) return "none";
    if (lines.length <= MAX_LISTED_TRANSFERS) return lines;
    const more = lines.length - MAX_LISTED_TRANSFERS;
    return [...lines.slice(0, MAX_LISTED_TRANSFERS), `… and ${more} more (click the edges)`];
  }

  function timeText(time) {
    return time === null ? "—" : time;
  }

  function nodeDetail(index) {
    const labels = nodes.labels[index] || [];
    const hops = nodes.hops[index];
    const detail = [
      ["Address", nodes.id[index]],
      ["Role", nodes.roles[nodes.role[index]]],
      ["Entity", nodes.entity[index] || "—"],
      ["Labels", labels.length ? labels : "none"],
    ];
    if (nodes.sources[index]) detail.push(["Label sources", nodes.sources[index]]);
    detail.push(
      [
        "Hops from a seed",
        hops === null ? "none: no seed reaches it (it sent value in)" : String(hops),
      ],
      ["First seen", timeText(nodes.first_seen[index])],
      ["Last seen", timeText(nodes.last_seen[index])],
    );
    if (nodes.seed[index]) detail.push(["Seed", "yes: the trace starts here"]);
    if (nodes.stop[index]) {
      detail.push(["Trace stops", "yes: a service; traced value is not followed past it"]);
    }
    for (const [asset, received, sent, held] of nodes.traced[index]) {
      detail.push([
        `Traced ${assets.title[asset]}`,
        [
          `received ${amountText(asset, received)}`,
          `sent ${amountText(asset, sent)}`,
          `held ${amountText(asset, held)}`,
        ],
      ]);
    }
    detail.push(...(nodes.extra[index] || []));
    const incoming = [];
    const outgoing = [];
    for (let edge = 0; edge < edges.tx.length; edge += 1) {
      if (edges.target[edge] === index) incoming.push(transferLine(edge));
      if (edges.source[edge] === index) outgoing.push(transferLine(edge));
    }
    detail.push(["Transfers in", listed(incoming)], ["Transfers out", listed(outgoing)]);
    return detail;
  }

  function transferLine(edge) {
    return `${timeText(edges.time[edge])} ${edges.tx[edge]}`;
  }

  function edgeDetail(edge) {
    const asset = edges.asset[edge];
    return [
      ["Transaction", edges.tx[edge]],
      ["Block", String(edges.block[edge])],
      ["Time", timeText(edges.time[edge])],
      ["From", named(edges.source[edge])],
      ["To", named(edges.target[edge])],
      ["Kind", edges.kinds[edges.kind[edge]]],
      ["Asset", assets.title[asset]],
      ["Amount", amountText(asset, edges.amount[edge])],
      ["Traced", amountText(asset, edges.traced[edge])],
      ["Created by a swap or link", amountText(asset, edges.converted[edge])],
    ];
  }

  function showNode(index) {
    showDetail(nodes.title[index], nodeDetail(index));
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function valueNode(value) {
    if (Array.isArray(value)) {
      const list = el("ul");
      for (const item of value) list.appendChild(el("li", item));
      return list;
    }
    return el("span", value);
  }

  function showDetail(title, detail) {
    document.getElementById("panel-title").textContent = title;
    document.getElementById("panel-hint").hidden = true;
    const body = document.getElementById("panel-body");
    body.replaceChildren();
    for (const [key, value] of detail) {
      body.appendChild(el("dt", key));
      const dd = el("dd");
      dd.appendChild(valueNode(value));
      body.appendChild(dd);
    }
  }

  function summary() {
    const s = data.summary;
    const parts = [
      `${s.nodes} addresses, ${s.edges} transfers`,
      `taint policy ${s.policy}`,
      `chain ${s.chain_id}`,
      `seeds: ${s.seeds.join(", ")}`,
    ];
    document.getElementById("summary").textContent = parts.join(" · ");
    if (s.drawn_nodes < s.nodes) {
      const note = document.getElementById("cap-note");
      note.textContent =
        `The graph draws ${s.drawn_nodes} of ${s.nodes} addresses: every seed and ` +
        "off-ramp, then the nearest to the seeds. The value flow, the off-ramp table and " +
        "`tracer export` cover the whole case.";
      note.hidden = false;
    }
  }

  function legend() {
    const list = document.getElementById("legend");
    for (const entry of data.legend) {
      const item = el("li", null, entry.present ? "present" : "absent");
      const swatch = el("span", null, "swatch");
      swatch.style.backgroundColor = entry.colour;
      item.appendChild(swatch);
      item.appendChild(el("span", `${entry.title} (${entry.shape})`));
      list.appendChild(item);
    }
  }

  // Tags each drawn point with the id it stands for and counts what was drawn, so the
  // counts in the DOM come from the picture, not from the data.
  function markDrawn(gd) {
    const figure = data.graph;
    let drawnNodes = 0;
    let drawnEdges = 0;
    for (const traceNode of gd.querySelectorAll(".scatterlayer .trace")) {
      const bound = traceNode.__data__;
      if (!bound || !bound[0] || !bound[0].trace) continue;
      const trace = bound[0].trace;
      const isNode = figure.node_traces.includes(trace.index);
      const isEdge = figure.edge_traces.includes(trace.index);
      if (!isNode && !isEdge) continue;
      for (const point of traceNode.querySelectorAll("path.point")) {
        const datum = point.__data__;
        if (!datum || datum.i === undefined) continue;
        const index = trace.customdata[datum.i];
        if (isNode) {
          point.setAttribute("data-node-id", nodes.id[index]);
          drawnNodes += 1;
        } else {
          point.setAttribute("data-edge-index", String(index));
          drawnEdges += 1;
        }
      }
    }
    gd.dataset.renderedNodes = String(drawnNodes);
    gd.dataset.renderedEdges = String(drawnEdges);
  }

  function onClick(event) {
    const point = event.points && event.points[0];
    if (!point) return;
    const trace = point.curveNumber;
    const index = point.customdata;
    if (!Number.isInteger(index)) return;
    if (data.graph.node_traces.includes(trace) && index < nodes.id.length) {
      showNode(index);
    } else if (data.graph.edge_traces.includes(trace) && index < edges.tx.length) {
      showDetail("Transfer", edgeDetail(index));
    }
  }

  // Evidence for a typed or pasted address (any case), without hunting for it in the graph.
  function finder() {
    const form = document.getElementById("find-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const id = document.getElementById("find").value.trim().toLowerCase();
      if (nodeIndex.has(id)) {
        showNode(nodeIndex.get(id));
      } else {
        showDetail("Not in this case", [["Address", id], ["Found", "no traced value reached it"]]);
      }
    });
  }

  // The arrows' hover text: both ends, the traced amount and the transaction.
  function arrowHover(trace) {
    trace.hovertext = trace.customdata.map((edge) =>
      [
        `${nodes.title[edges.source[edge]]} → ${nodes.title[edges.target[edge]]}`,
        `traced ${amountText(edges.asset[edge], edges.traced[edge])}`,
        `tx ${edges.tx[edge]}`,
      ]
        .map(plotlyText)
        .join("\n")
        .replace(/\n/g, "<br>"), // a line break inside a name breaks the line too
    );
  }

  function graph() {
    const gd = document.getElementById("graph");
    for (const index of data.graph.edge_traces) arrowHover(data.graph.data[index]);
    const config = { displaylogo: false, responsive: true, scrollZoom: true };
    return Plotly.newPlot(gd, data.graph.data, data.graph.layout, config).then(() => {
      gd.on("plotly_afterplot", () => markDrawn(gd));
      gd.on("plotly_click", onClick);
      markDrawn(gd);
    });
  }

  function sankey() {
    const select = document.getElementById("asset");
    const target = document.getElementById("sankey");
    if (data.sankeys.length === 0) {
      document.getElementById("sankey-empty").hidden = false;
      select.disabled = true;
      return Promise.resolve();
    }
    data.sankeys.forEach((entry, index) => {
      const option = el("option", entry.title);
      option.value = String(index);
      select.appendChild(option);
    });
    const note = document.getElementById("sankey-note");
    const draw = () => {
      const entry = data.sankeys[Number(select.value)];
      // Flows back to earlier hops are left out of the diagram (it must have no loop).
      note.textContent = entry.note || "";
      note.hidden = !entry.note;
      return Plotly.react(target, entry.figure.data, entry.figure.layout, { displaylogo: false });
    };
    select.addEventListener("change", draw);
    return draw();
  }

  function offramps() {
    const table = document.getElementById("offramps");
    const { columns, rows } = data.offramps;
    if (rows.length === 0) {
      table.hidden = true;
      document.getElementById("offramps-empty").hidden = false;
      return;
    }
    const head = el("tr");
    for (const column of columns) head.appendChild(el("th", column));
    table.tHead.appendChild(head);
    for (const row of rows) {
      const line = el("tr");
      for (const value of row) {
        const cell = el("td");
        cell.appendChild(valueNode(value));
        line.appendChild(cell);
      }
      table.tBodies[0].appendChild(line);
    }
  }

  summary();
  finder();
  legend();
  offramps();
  Promise.all([graph(), sankey()]).then(
    () => {
      document.body.dataset.ready = "1";
    },
    (error) => {
      console.error("case view failed to draw", error);
    },
  );
})();
