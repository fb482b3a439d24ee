// The case view's behaviour. Every string from the case is inserted with textContent (never
// as HTML); strings drawn by Plotly were entity-escaped when the page was written.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("case-data").textContent);

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
    let nodes = 0;
    let edges = 0;
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
        const id = trace.customdata[datum.i];
        if (isNode) {
          point.setAttribute("data-node-id", id);
          nodes += 1;
        } else {
          point.setAttribute("data-edge-id", id);
          edges += 1;
        }
      }
    }
    gd.dataset.renderedNodes = String(nodes);
    gd.dataset.renderedEdges = String(edges);
  }

  function onClick(event) {
    const point = event.points && event.points[0];
    if (!point) return;
    const index = point.curveNumber;
    const id = point.customdata;
    if (data.graph.node_traces.includes(index) && Object.hasOwn(data.nodes, id)) {
      showDetail(data.titles[id] || id, data.nodes[id]);
    } else if (data.graph.edge_traces.includes(index) && Object.hasOwn(data.edges, id)) {
      showDetail("Transfer", data.edges[id]);
    }
  }

  // Evidence for a typed or pasted address (any case), without hunting for it in the graph.
  function finder() {
    const form = document.getElementById("find-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const id = document.getElementById("find").value.trim().toLowerCase();
      if (Object.hasOwn(data.nodes, id)) {
        showDetail(data.titles[id] || id, data.nodes[id]);
      } else {
        showDetail("Not in this case", [["Address", id], ["Found", "no traced value reached it"]]);
      }
    });
  }

  function graph() {
    const gd = document.getElementById("graph");
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
    const draw = () => {
      const figure = data.sankeys[Number(select.value)].figure;
      return Plotly.react(target, figure.data, figure.layout, { displaylogo: false });
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
