// The fugue-ppl status page: polls the JSON document (status/data) and draws
// every plot as SVG. No dependencies; every value from the document reaches
// the page through textContent or an attribute, never as markup.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var body = document.body;
  var SOURCE = body.getAttribute("data-source") || "status/data";
  var INTERVAL = Math.max(0.2, parseFloat(body.getAttribute("data-interval")) || 1) * 1000;
  var HEIGHT = 170;
  var M = { top: 10, right: 12, bottom: 22, left: 52 };
  var COLORS = {
    p50: "#2f6fdb", p90: "#8a55d6", p99: "#d9467a", mean: "#2f6fdb",
    throughput: "#1f9d8b", errors: "#d9463a", x: "#9aa3b5", stat: "#2f6fdb",
    limit: "#d9463a", center: "#5d6678", upper: "#d9467a", lower: "#2f6fdb",
    alarm: "#d9463a"
  };
  var STATE_COLORS = { HEALTHY: "#1f9d55", DEGRADED: "#d98b00", FAILED: "#d9463a",
                       RECOVERY: "#2f6fdb" };
  var cards = new Map();
  var last = null;
  var polls = 0;

  // ------------------------------------------------------------ small helpers

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) {
      e.setAttribute(k, String(attrs[k]));
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function finite(v) { return typeof v === "number" && isFinite(v); }

  function sig(v, digits) {
    if (!finite(v)) return "–";
    var s = Number(v.toPrecision(digits || 3));
    return String(s);
  }

  function grouped(n) {
    if (!finite(n)) return "–";
    return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u2009");
  }

  function duration(seconds) {
    if (!finite(seconds)) return ["–", ""];
    var a = Math.abs(seconds);
    if (a === 0) return ["0", "ms"];
    if (a < 1e-3) return [sig(seconds * 1e6), "µs"];
    if (a < 1) return [sig(seconds * 1e3), "ms"];
    return [sig(seconds), "s"];
  }

  function percent(r) { return finite(r) ? sig(r * 100, 3) : "–"; }

  function clock(t) {
    var d = new Date(t * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function isoClock(text) {
    var t = Date.parse(text);
    return isNaN(t) ? String(text) : clock(t / 1000);
  }

  function zip(ts, ys, f) {
    var out = [];
    for (var i = 0; i < ts.length; i++) {
      var y = ys[i];
      out.push([ts[i], finite(y) ? (f ? f(y) : y) : null]);
    }
    return out;
  }

  function niceStep(span, count) {
    var raw = span / Math.max(1, count);
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function ticks(lo, hi, count) {
    var step = niceStep(hi - lo, count), out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    }
    return out;
  }

  // Ticks of a log10 axis (lo, hi in decades): 1, 2, 5 or 1, 3 or 1 per decade.
  function logTicks(lo, hi) {
    var span = hi - lo, out = [];
    var mults = span > 4 ? [1] : span > 1.5 ? [1, 3] : [1, 2, 5];
    for (var k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      mults.forEach(function (m) {
        var v = k + Math.log10(m);
        if (v >= lo && v <= hi) out.push(v);
      });
    }
    return out.length >= 2 ? out : ticks(lo, hi, 3);
  }

  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

  function timeTicks(lo, hi, count) {
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if ((hi - lo) / TIME_STEPS[i] <= count) { step = TIME_STEPS[i]; break; }
    }
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi; v += step) out.push(v);
    return out;
  }

  // ------------------------------------------------------------ the plot

  // opts: {x: [t0, t1], series: [{pts, color, kind: line|dots|area|step, width,
  //        dash, cls, label}], hlines: [{y, color, dash, label}], bands: [{y0, y1,
  //        color}], xbands: [{t0, t1, label}], markers: [{t, y, title}],
  //        fmt(y), zero: include 0, min, max}
  function plot(node, opts) {
    clear(node);
    if (opts.log) {                        // a log10 axis: the values' logarithms drawn
      var lg = function (v) { return finite(v) && v > 0 ? Math.log10(v) : null; };
      opts = Object.assign({}, opts, {
        zero: false,
        fmt: function (v) { return sig(Math.pow(10, v), 2); },
        series: opts.series.map(function (s) {
          return Object.assign({}, s, { pts: s.pts.map(function (p) {
            return [p[0], lg(p[1])];
          }) });
        })
      });
    }
    var width = Math.max(240, node.clientWidth || node.parentNode.clientWidth || 480);
    node.setAttribute("viewBox", "0 0 " + width + " " + HEIGHT);
    node.setAttribute("height", HEIGHT);
    var w = width - M.left - M.right, h = HEIGHT - M.top - M.bottom;
    var ys = [];
    (opts.series || []).forEach(function (s) {
      s.pts.forEach(function (p) { if (finite(p[1])) ys.push(p[1]); });
    });
    (opts.hlines || []).forEach(function (l) { if (finite(l.y)) ys.push(l.y); });
    (opts.markers || []).forEach(function (m) { if (finite(m.y)) ys.push(m.y); });
    if (opts.zero) ys.push(0);
    if (finite(opts.min)) ys.push(opts.min);
    if (finite(opts.max)) ys.push(opts.max);
    var t0 = opts.x[0], t1 = opts.x[1];
    if (!(t1 > t0)) { t0 -= 1; t1 += 1; }
    var g = svg("g", { transform: "translate(" + M.left + "," + M.top + ")" }, node);
    if (!ys.length) {
      svg("text", { x: w / 2, y: h / 2, "class": "empty", "text-anchor": "middle" }, g)
        .textContent = opts.empty || "no data yet";
      return;
    }
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (hi === lo) {
      var pad0 = Math.abs(hi) * 0.1 || 1;
      lo -= pad0; hi += pad0;
      if (opts.zero && lo < 0 && Math.min.apply(null, ys) >= 0) lo = 0;
    } else {
      var pad = (hi - lo) * 0.06;
      if (!(opts.zero && lo === 0)) lo -= pad;
      hi += pad;
    }
    function X(t) { return (t - t0) / (t1 - t0) * w; }
    function Y(v) { return h - (v - lo) / (hi - lo) * h; }
    var fmt = opts.fmt || function (v) { return sig(v, 3); };

    (opts.xbands || []).forEach(function (b) {
      var a = Math.max(0, X(b.t0)), z = Math.min(w, X(b.t1));
      if (z > a) {
        svg("rect", { x: a, y: 0, width: z - a, height: h, "class": "xband" }, g);
        if (b.label && z - a > 50) {
          svg("text", { x: a + 4, y: 12, "class": "xband-label" }, g).textContent = b.label;
        }
      }
    });
    (opts.bands || []).forEach(function (b) {
      var a = Y(Math.min(hi, Math.max(lo, b.y1))), z = Y(Math.min(hi, Math.max(lo, b.y0)));
      if (z > a) svg("rect", { x: 0, y: a, width: w, height: z - a, fill: b.color,
                               "class": "band" }, g);
    });
    (opts.log ? logTicks(lo, hi) : ticks(lo, hi, 4)).forEach(function (v) {
      var y = Y(v);
      svg("line", { x1: 0, x2: w, y1: y, y2: y, "class": "grid" }, g);
      svg("text", { x: -6, y: y + 3, "class": "tick", "text-anchor": "end" }, g)
        .textContent = fmt(v);
    });
    timeTicks(t0, t1, Math.max(2, Math.floor(w / 90))).forEach(function (t) {
      var x = X(t);
      svg("line", { x1: x, x2: x, y1: h, y2: h + 4, "class": "axis" }, g);
      svg("text", { x: x, y: h + 16, "class": "tick", "text-anchor": "middle" }, g)
        .textContent = clock(t);
    });
    svg("line", { x1: 0, x2: w, y1: h, y2: h, "class": "axis" }, g);
    (opts.hlines || []).forEach(function (l) {
      if (!finite(l.y)) return;
      var y = Y(l.y);
      svg("line", { x1: 0, x2: w, y1: y, y2: y, stroke: l.color, "stroke-dasharray": l.dash ||
                    "5 4", "class": "hline" }, g);
      if (l.label) {
        svg("text", { x: w - 2, y: y - 3, "class": "hline-label", "text-anchor": "end",
                      fill: l.color }, g).textContent = l.label;
      }
    });
    (opts.series || []).forEach(function (s) {
      var pts = s.pts;
      if (s.kind === "dots") {
        var dots = svg("g", { "class": "dots " + (s.cls || ""), fill: s.color }, g);
        pts.forEach(function (p) {
          if (finite(p[1])) svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: s.r || 2 }, dots);
        });
        return;
      }
      var d = "", open = false, first = null, prev = null;
      pts.forEach(function (p) {
        if (!finite(p[1])) { open = false; return; }
        var x = X(p[0]).toFixed(1), y = Y(p[1]).toFixed(1);
        if (s.kind === "step" && open) d += "H" + x;
        d += (open ? "L" : "M") + x + " " + y;
        if (first === null) first = x;
        prev = x;
        open = true;
      });
      if (!d) return;
      if (s.kind === "area") {
        var base = Y(Math.max(lo, 0)).toFixed(1);
        svg("path", { d: d + "L" + prev + " " + base + "L" + first + " " + base + "Z",
                      fill: s.color, "class": "area" }, g);
      }
      svg("path", { d: d, stroke: s.color, "stroke-width": s.width || 1.8, fill: "none",
                    "stroke-dasharray": s.dash || "none",
                    "class": "series " + (s.cls || ""), "data-label": s.label || "" }, g);
    });
    (opts.markers || []).forEach(function (m) {
      if (!finite(m.y)) return;
      var c = svg("circle", { cx: X(m.t), cy: Y(m.y), r: 4.5, "class": "alarm" }, g);
      svg("title", {}, c).textContent = m.title || "alarm";
    });
  }

  // ------------------------------------------------------------ runner cards

  function tile(parent, field, label) {
    var t = el("div", "tile");
    t.appendChild(el("div", "tile-label", label));
    var v = el("div", "tile-value");
    var num = el("span", "num");
    num.setAttribute("data-field", field);
    var unit = el("span", "unit");
    v.appendChild(num);
    v.appendChild(unit);
    t.appendChild(v);
    parent.appendChild(t);
    return { num: num, unit: unit };
  }

  function figure(parent, name, title, legend) {
    var f = el("figure", "plot");
    f.setAttribute("data-plot", name);
    var cap = el("figcaption");
    cap.appendChild(el("span", "plot-title", title));
    var lg = el("span", "legend");
    (legend || []).forEach(function (item) {
      var k = el("span", "key");
      var sw = el("i", "swatch" + (item[2] ? " " + item[2] : ""));
      sw.style.background = item[1];
      k.appendChild(sw);
      k.appendChild(document.createTextNode(item[0]));
      lg.appendChild(k);
    });
    cap.appendChild(lg);
    f.appendChild(cap);
    var s = svg("svg", { "class": "chart", role: "img", "aria-label": title }, f);
    parent.appendChild(f);
    return { svg: s, note: f.appendChild(el("div", "plot-note")) };
  }

  function makeCard(r) {
    var card = el("article", "runner");
    var head = el("header", "runner-head");
    var h2 = el("h2");
    h2.appendChild(el("span", "model", r.model));
    h2.appendChild(el("span", "version", r.version === null ? "unversioned" : "v" + r.version));
    head.appendChild(h2);
    var pill = el("span", "pill");
    pill.setAttribute("data-field", "breaker-state");
    head.appendChild(pill);
    var drift = el("span", "pill drift", "model drift");
    drift.setAttribute("data-field", "drift");
    drift.hidden = true;
    head.appendChild(drift);
    var weight = el("span", "weight");
    weight.setAttribute("data-field", "weight");
    head.appendChild(weight);
    card.appendChild(head);
    var tiles = el("div", "tiles");
    var c = { node: card, pill: pill, drift: drift, weight: weight, tiles: {} };
    c.tiles.requests = tile(tiles, "requests", "requests");
    c.tiles.throughput = tile(tiles, "throughput", "throughput");
    c.tiles.error_rate = tile(tiles, "error_rate", "error rate");
    c.tiles.p50 = tile(tiles, "p50", "p50 latency");
    c.tiles.p90 = tile(tiles, "p90", "p90 latency");
    c.tiles.p99 = tile(tiles, "p99", "p99 latency");
    card.appendChild(tiles);
    var strip = el("div", "plots wide");
    c.breaker = figure(strip, "breaker", "Circuit breaker",
                       Object.keys(STATE_COLORS).map(function (k) {
                         return [k.toLowerCase(), STATE_COLORS[k]];
                       }));
    card.appendChild(strip);
    var grid = el("div", "plots");
    c.latency = figure(grid, "latency", "Latency per interval (ms, log scale)",
                       [["p50", COLORS.p50], ["p90", COLORS.p90], ["p99", COLORS.p99]]);
    c.throughput = figure(grid, "throughput", "Throughput (requests/s)",
                          [["requests/s", COLORS.throughput]]);
    c.errors = figure(grid, "errors", "Error rate (%)", [["errors", COLORS.errors]]);
    c.ewma = figure(grid, "ewma", "EWMA chart",
                    [["observed", COLORS.x, "dot"], ["EWMA", COLORS.stat],
                     ["control limits", COLORS.limit, "dash"]]);
    c.shewhart = figure(grid, "shewhart", "Shewhart chart",
                        [["point", COLORS.stat, "dot"], ["±3σ", COLORS.limit, "dash"],
                         ["Western Electric", COLORS.alarm, "ring"]]);
    c.cusum = figure(grid, "cusum", "CUSUM chart",
                     [["C+", COLORS.upper], ["−C−", COLORS.lower],
                      ["decision interval ±H", COLORS.limit, "dash"]]);
    card.appendChild(grid);
    return c;
  }

  function setNum(t, value, text, unit) {
    t.num.textContent = text;
    t.num.setAttribute("data-value", value === null || value === undefined ? "" : value);
    t.unit.textContent = unit || "";
  }

  function chartUnit(series) {
    if (series === "error_rate") {
      return { f: function (v) { return v * 100; }, unit: "%", what: "error rate" };
    }
    return { f: function (v) { return v * 1e3; }, unit: "ms", what: "mean latency" };
  }

  function warmupBand(pts, key) {
    var t = pts.t, first = null;
    for (var i = 0; i < t.length; i++) {
      if (finite(pts[key][i])) { first = i; break; }
    }
    if (!t.length) return [];
    if (first === 0) return [];
    var end = first === null ? t[t.length - 1] : t[first];
    return [{ t0: t[0], t1: end, label: "warm-up" }];
  }

  function drawControl(c, kind, chart, x) {
    var u = chartUnit(chart.series), p = chart.points, st = chart.state || {};
    var fig = c[kind];
    var series = [], hlines = [], bands = [], markers = [];
    var note;
    if (kind === "cusum") {
      var H = st.H, scaleH = finite(H) ? u.f(H) : null;
      series.push({ pts: zip(p.t, p.upper, u.f), color: COLORS.upper, cls: "stat" });
      series.push({ pts: zip(p.t, p.lower, function (v) { return -u.f(v); }),
                    color: COLORS.lower, cls: "stat" });
      if (finite(scaleH)) {
        hlines.push({ y: scaleH, color: COLORS.limit, label: "H" });
        hlines.push({ y: -scaleH, color: COLORS.limit, label: "−H" });
        hlines.push({ y: 0, color: COLORS.center, dash: "2 3" });
      }
      p.t.forEach(function (t, i) {
        if (p.alarm[i]) {
          var up = (p.rules[i] || []).indexOf("CUSUM+") >= 0;
          markers.push({ t: t, y: up ? u.f(p.upper[i]) : -u.f(p.lower[i]),
                         title: (p.rules[i] || []).join(", ") });
        }
      });
      note = "on " + u.what + " · k = " + chart.params.k + ", h = " + chart.params.h +
        (finite(H) ? " (H = " + sig(u.f(H)) + " " + u.unit + ")" : "");
    } else {
      series.push({ pts: zip(p.t, p.x, u.f), color: kind === "ewma" ? COLORS.x : COLORS.stat,
                    kind: "dots", cls: "observed", r: kind === "ewma" ? 1.8 : 2.2 });
      if (kind === "ewma") {
        series.push({ pts: zip(p.t, p.value, u.f), color: COLORS.stat, cls: "stat" });
      } else {
        series.push({ pts: zip(p.t, p.value, u.f), color: COLORS.stat, cls: "stat",
                      width: 1.2 });
        if (finite(st.center) && finite(st.sigma_point)) {
          [1, 2].forEach(function (k) {
            bands.push({ y0: u.f(st.center - k * st.sigma_point),
                         y1: u.f(st.center + k * st.sigma_point),
                         color: k === 1 ? "rgba(47,111,219,0.07)" : "rgba(47,111,219,0.05)" });
          });
        }
      }
      series.push({ pts: zip(p.t, p.ucl, u.f), color: COLORS.limit, dash: "5 4",
                    cls: "limit", width: 1.3 });
      series.push({ pts: zip(p.t, p.lcl, u.f), color: COLORS.limit, dash: "5 4",
                    cls: "limit", width: 1.3 });
      if (finite(st.center)) {
        hlines.push({ y: u.f(st.center), color: COLORS.center, dash: "2 3", label: "centre" });
      }
      p.t.forEach(function (t, i) {
        if (p.alarm[i]) {
          markers.push({ t: t, y: u.f(p.value[i]), title: (p.rules[i] || []).join(", ") });
        }
      });
      note = "on " + u.what + (kind === "ewma"
        ? " · λ = " + chart.params.lam + ", L = " + chart.params.L
        : " · individuals, rules " + (chart.params.rules || []).join(" "));
    }
    var alarms = st.alarm_count || 0;
    fig.note.textContent = note + " · " + alarms + (alarms === 1 ? " alarm" : " alarms");
    fig.note.className = "plot-note" + (alarms ? " has-alarms" : "");
    plot(fig.svg, { x: x, series: series, hlines: hlines, bands: bands, markers: markers,
                    xbands: warmupBand(p, kind === "cusum" ? "upper" : "value"),
                    fmt: function (v) { return sig(v, 3); },
                    empty: "waiting for the first interval with traffic" });
    fig.svg.setAttribute("data-alarms", String(alarms));
  }

  function drawBreaker(c, r, x) {
    var s = r.series, node = c.breaker.svg;
    clear(node);
    var width = Math.max(240, node.clientWidth || 480);
    var h = 34;
    node.setAttribute("viewBox", "0 0 " + width + " " + (h + 22));
    node.setAttribute("height", h + 22);
    var w = width - M.left - M.right;
    var g = svg("g", { transform: "translate(" + M.left + ",6)" }, node);
    var t0 = x[0], t1 = x[1];
    if (!(t1 > t0)) { t0 -= 1; t1 += 1; }
    function X(t) { return (t - t0) / (t1 - t0) * w; }
    var i = 0;
    while (i < s.t.length) {
      var j = i;
      while (j + 1 < s.t.length && s.state[j + 1] === s.state[i]) j++;
      var a = X(i === 0 ? s.t[0] : (s.t[i - 1] + s.t[i]) / 2);
      var z = X(j === s.t.length - 1 ? s.t[j] : (s.t[j] + s.t[j + 1]) / 2);
      var name = r.states ? r.states[s.state[i]] : null;
      var rect = svg("rect", { x: a, y: 0, width: Math.max(1, z - a), height: h,
                               fill: STATE_COLORS[name] || "#ccc", "class": "state",
                               "data-state": name }, g);
      svg("title", {}, rect).textContent = clock(s.t[i]) + "–" + clock(s.t[j]) + " " + name;
      i = j + 1;
    }
    svg("text", { x: -6, y: h / 2 + 4, "class": "tick", "text-anchor": "end" }, g)
      .textContent = "state";
    timeTicks(t0, t1, Math.max(2, Math.floor(w / 90))).forEach(function (t) {
      svg("text", { x: X(t), y: h + 14, "class": "tick", "text-anchor": "middle" }, g)
        .textContent = clock(t);
    });
    var b = r.breaker, note = c.breaker.note;
    clear(note);
    note.className = "plot-note transitions";
    var line = el("div", "", "failure rate " + percent(b.failure_rate) + "% over " +
                  b.window_calls + " calls · " + b.rejected_calls + " rejected");
    note.appendChild(line);
    var list = el("ol", "transition-list");
    b.transitions.slice(-6).reverse().forEach(function (tr) {
      var li = el("li");
      li.appendChild(el("span", "when", clock(tr.at)));
      li.appendChild(el("span", "st st-" + tr.from, tr.from));
      li.appendChild(document.createTextNode(" → "));
      li.appendChild(el("span", "st st-" + tr.to, tr.to));
      list.appendChild(li);
    });
    if (!b.transitions.length) list.appendChild(el("li", "quiet", "no transitions"));
    note.appendChild(list);
  }

  function updateCard(c, r, doc) {
    var s = r.series, x = [s.t.length ? s.t[0] : doc.generated - 1,
                           s.t.length ? s.t[s.t.length - 1] : doc.generated];
    r.states = doc.states;
    var state = r.breaker.state;
    c.pill.textContent = state;
    c.pill.className = "pill st-" + state;
    var d = r.drift;
    c.drift.hidden = !(d && d.drifting);
    c.drift.title = d ? d.alarms + " drift alarm(s)" : "";
    c.weight.textContent = finite(r.weight) ? "weight " + percent(r.weight) + "%" : "";
    var t = r.totals, lat = r.latency || {};
    if (t) {
      setNum(c.tiles.requests, t.requests, grouped(t.requests), "");
      var last = null;
      for (var i = s.throughput.length - 1; i >= 0; i--) {
        if (finite(s.throughput[i])) { last = s.throughput[i]; break; }
      }
      setNum(c.tiles.throughput, last, sig(last === null ? 0 : last, 3), "req/s");
      setNum(c.tiles.error_rate, t.error_rate, percent(t.error_rate), "%");
      ["p50", "p90", "p99"].forEach(function (q) {
        var d = duration(lat[q]);
        setNum(c.tiles[q], lat[q], d[0], d[1]);
      });
    } else {
      ["requests", "throughput", "error_rate", "p50", "p90", "p99"].forEach(function (k) {
        setNum(c.tiles[k], null, "–", "");
      });
    }
    var ms = function (v) { return v * 1e3; };
    plot(c.latency.svg, {
      x: x, log: true,
      series: [{ pts: zip(s.t, s.p99, ms), color: COLORS.p99, cls: "p99", label: "p99" },
               { pts: zip(s.t, s.p90, ms), color: COLORS.p90, cls: "p90", label: "p90" },
               { pts: zip(s.t, s.p50, ms), color: COLORS.p50, cls: "p50", label: "p50",
                 width: 2.2 }]
    });
    c.latency.note.textContent = "over all time: p50 " +
      duration(lat.p50).join(" ") + ", p99 " + duration(lat.p99).join(" ") +
      ", mean " + duration(lat.mean).join(" ");
    plot(c.throughput.svg, {
      x: x, zero: true,
      series: [{ pts: zip(s.t, s.throughput), color: COLORS.throughput, kind: "area",
                 cls: "throughput", label: "requests/s" }]
    });
    c.throughput.note.textContent = t ? grouped(t.inferences) + " inferences · " +
      grouped(t.fallbacks) + " fallbacks · " + grouped(t.invalid) + " invalid" : "no metrics";
    plot(c.errors.svg, {
      x: x, zero: true, min: 0, max: 1,
      fmt: function (v) { return sig(v, 3); },
      series: [{ pts: zip(s.t, s.error_rate, function (v) { return v * 100; }),
                 color: COLORS.errors, kind: "area", cls: "error-rate", label: "errors" }]
    });
    c.errors.note.textContent = t ? grouped(t.errors) + " errors · " + grouped(t.timeouts) +
      " timeouts of " + grouped(t.requests) + " requests" : "no metrics";
    drawBreaker(c, r, x);
    ["ewma", "shewhart", "cusum"].forEach(function (k) { drawControl(c, k, r.charts[k], x); });
  }

  // ------------------------------------------------------------ rollouts

  function rolloutCard(ro) {
    var card = el("article", "rollout" + (ro.active ? " active" : ""));
    card.setAttribute("data-rollout", String(ro.id));
    var head = el("header", "runner-head");
    var h2 = el("h2");
    h2.appendChild(el("span", "model", ro.model));
    h2.appendChild(el("span", "version", (ro.active ? "rollout in progress" : "last rollout") +
                      " #" + ro.id));
    head.appendChild(h2);
    var pill = el("span", "pill ro-" + (ro.active ? "active" : "done"), ro.state);
    pill.setAttribute("data-field", "rollout-state");
    head.appendChild(pill);
    head.appendChild(el("span", "weight", ro.strategy.replace("_", " ")));
    card.appendChild(head);
    var p = el("p", "ro-line");
    p.appendChild(el("span", "ver", ro.baseline === null ? "(none)" : "v" + ro.baseline));
    p.appendChild(document.createTextNode(" → "));
    p.appendChild(el("span", "ver cand", "v" + ro.candidate));
    p.appendChild(document.createTextNode(" · started " + isoClock(ro.created) + " by "));
    p.appendChild(el("span", "actor", ro.actor));
    p.appendChild(document.createTextNode(" · updated " + isoClock(ro.updated)));
    card.appendChild(p);

    var row = el("div", "ro-row");
    if (ro.progress) {
      var pr = el("div", "ro-block");
      pr.appendChild(el("div", "tile-label", "progress: " + ro.progress.done + " of " +
                        ro.progress.total + " " + ro.progress.unit));
      var steps = el("div", "steps");
      for (var i = 0; i < ro.progress.total; i++) {
        var label = ro.progress.steps ? percent(ro.progress.steps[i]) + "%" : String(i + 1);
        var st = el("span", "step" + (i < ro.progress.done ? " done" : "") +
                    (i === ro.progress.done && ro.active ? " current" : ""), label);
        steps.appendChild(st);
      }
      pr.appendChild(steps);
      row.appendChild(pr);
    }
    if (ro.weights) {
      var wb = el("div", "ro-block");
      wb.appendChild(el("div", "tile-label", "traffic: " + Object.keys(ro.weights)
        .map(function (v) { return "v" + v + " " + percent(ro.weights[v]) + "%"; })
        .join(" · ")));
      var bar = el("div", "weights");
      bar.setAttribute("data-field", "weights");
      Object.keys(ro.weights).forEach(function (v) {
        var w = ro.weights[v];
        if (!(w > 0)) return;
        var seg = el("span", "wseg" + (v === ro.candidate ? " cand" : ""));
        seg.style.flexGrow = String(w);
        seg.textContent = "v" + v + " " + percent(w) + "%";
        seg.setAttribute("data-version", v);
        seg.setAttribute("data-weight", String(w));
        bar.appendChild(seg);
      });
      wb.appendChild(bar);
      row.appendChild(wb);
    }
    card.appendChild(row);

    var tbl = el("table", "looks");
    var thead = el("thead"), tr = el("tr");
    ["look", "step", "test", "decision", "statistic", "estimate ± s.e.", "n (base / cand)",
     "outcome"].forEach(function (hd) { tr.appendChild(el("th", "", hd)); });
    thead.appendChild(tr);
    tbl.appendChild(thead);
    var tb = el("tbody");
    ro.looks.slice().reverse().forEach(function (look) {
      Object.keys(look.tests).forEach(function (name, j) {
        var t = look.tests[name], r = el("tr");
        r.appendChild(el("td", "", j ? "" : "#" + look.look));
        r.appendChild(el("td", "", j ? "" : (look.step === null ? "–" : (look.step + 1) +
                                               (finite(look.weight) ? " (" +
                                                percent(look.weight) + "%)" : ""))));
        r.appendChild(el("td", "", name));
        r.appendChild(el("td", "dec dec-" + t.action, t.action +
                         (t.reason ? " · " + String(t.reason).replace("_", " ") : "")));
        r.appendChild(el("td", "", t.statistic_name + " = " + sig(t.statistic, 3) + " vs " +
                         sig(t.threshold, 3)));
        r.appendChild(el("td", "", sig(t.estimate, 3) + " ± " + sig(t.std_error, 2)));
        r.appendChild(el("td", "", grouped(t.n_baseline) + " / " + grouped(t.n_candidate)));
        r.appendChild(el("td", "", j ? "" : look.outcome));
        tb.appendChild(r);
      });
    });
    if (!ro.looks.length) {
      var er = el("tr"), td = el("td", "quiet", "no look of the analysis yet");
      td.setAttribute("colspan", "8");
      er.appendChild(td);
      tb.appendChild(er);
    }
    tbl.appendChild(tb);
    var wrap = el("div", "ro-block wide");
    wrap.appendChild(el("div", "tile-label", "analysis at each look"));
    wrap.appendChild(tbl);
    card.appendChild(wrap);

    var ev = el("ol", "events");
    ro.events.slice(-8).reverse().forEach(function (e) {
      var li = el("li");
      li.appendChild(el("span", "when", isoClock(e.at)));
      li.appendChild(el("span", "action", e.action));
      li.appendChild(document.createTextNode((e.state_before ? " " + e.state_before + " → " :
                                                " → ") + e.state_after));
      ev.appendChild(li);
    });
    card.appendChild(ev);
    return card;
  }

  // ------------------------------------------------------------ the page

  function render(doc) {
    last = doc;
    window.statusDocument = doc;           // the document last drawn (for tools and tests)
    var problems = document.getElementById("problems");
    clear(problems);
    problems.hidden = !doc.problems.length;
    doc.problems.forEach(function (p) { problems.appendChild(el("div", "problem", p)); });

    var ros = document.getElementById("rollouts");
    clear(ros);
    doc.rollouts.forEach(function (ro) { ros.appendChild(rolloutCard(ro)); });

    var holder = document.getElementById("runners");
    var seen = new Set();
    doc.runners.forEach(function (r) {
      var key = r.model + "\u0000" + (r.version === null ? "\u0001" : r.version);
      seen.add(key);
      var c = cards.get(key);
      if (!c) {
        c = makeCard(r);
        cards.set(key, c);
      }
      holder.appendChild(c.node);            // (keeps the document's order)
      updateCard(c, r, doc);
    });
    cards.forEach(function (c, key) {
      if (!seen.has(key)) {
        holder.removeChild(c.node);
        cards.delete(key);
      }
    });
    var none = document.getElementById("no-runners");
    none.hidden = doc.runners.length > 0;
    polls += 1;
    body.setAttribute("data-polls", String(polls));
    body.setAttribute("data-generated", String(doc.generated));
    var conn = document.getElementById("conn");
    conn.textContent = "live";
    conn.className = "conn ok";
    document.getElementById("updated").textContent = "updated " + clock(doc.generated) +
      " · every " + doc.interval + " s";
  }

  function stale() {
    var conn = document.getElementById("conn");
    conn.textContent = "reconnecting";
    conn.className = "conn stale";
  }

  function poll() {
    fetch(SOURCE, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("status " + res.status);
        return res.json();
      })
      .then(render, function () { stale(); })
      .catch(function (err) { console.error("status page: " + err); })
      .then(function () { setTimeout(poll, INTERVAL); });
  }

  window.addEventListener("resize", function () { if (last) render(last); });
  poll();
})();
