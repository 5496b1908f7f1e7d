// alligator dashboard: a small line plot in SVG, drawn from the samples
// the page collected since it was opened. No third-party code.
//
// Labels are set with textContent; nothing here parses markup.
"use strict";

window.alligatorPlot = (function () {
  const SVG_NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour12: false });
  }

  function niceMax(value) {
    if (value <= 1) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  // Lines for each series over the samples; a null value breaks its line.
  function draw(chart, samples, series, format) {
    const W = Number(chart.getAttribute("data-width")), H = 170, L = 52, R = 10, T = 10, B = 22;
    chart.replaceChildren();
    let max = 0;
    for (const sample of samples) {
      for (const one of series) {
        const value = sample[one.key];
        if (typeof value === "number" && value > max) max = value;
      }
    }
    max = niceMax(max);
    const first = samples.length ? samples[0].t : 0;
    const last = samples.length ? samples[samples.length - 1].t : 0;
    const span = Math.max(1, last - first);
    const x = (t) => L + ((W - L - R) * (t - first)) / span;
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (const fraction of [0, 0.5, 1]) {
      const at = y(max * fraction);
      chart.append(svg("line", { x1: L, x2: W - R, y1: at, y2: at, class: "grid" }));
      const label = svg("text", { x: L - 6, y: at + 4, class: "axis", "text-anchor": "end" });
      label.textContent = format(max * fraction);
      chart.append(label);
    }
    if (samples.length) {
      for (const [t, anchor] of [[first, "start"], [last, "end"]]) {
        const label = svg("text", { x: x(t), y: H - 6, class: "axis", "text-anchor": anchor });
        label.textContent = clock(t);
        chart.append(label);
      }
    }
    for (const one of series) {
      let d = "";
      let pen = false;
      for (const sample of samples) {
        const value = sample[one.key];
        if (typeof value !== "number") {
          pen = false;
          continue;
        }
        d += (pen ? " L " : " M ") + x(sample.t).toFixed(1) + " " + y(value).toFixed(1);
        pen = true;
      }
      if (d) chart.append(svg("path", { d: d.trim(), class: "line " + one.cls }));
    }
    if (samples.length && !anyValue(samples, series)) {
      const empty = svg("text", { x: (L + W - R) / 2, y: (T + H - B) / 2, class: "empty", "text-anchor": "middle" });
      empty.textContent = "no data";
      chart.append(empty);
    }
    chart.setAttribute("data-samples", String(samples.length));
  }

  function anyValue(samples, series) {
    return samples.some((sample) => series.some((one) => typeof sample[one.key] === "number"));
  }

  return { draw, svg, clock };
})();
