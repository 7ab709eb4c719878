// The timeline chart of a `summarize_activity` result: an inline SVG drawn here (no library, no
// CDN). One column per time bucket: read calls stacked under write calls (together every event
// of the bucket), and the failed calls, which are some of those, as a narrower red bar over the
// bottom of the column. Labels (times, the scale, the legend) are HTML next to the SVG, so they
// stay readable when the SVG is scaled down to a phone's width.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
/** The drawing's own units; the SVG scales to the card's width. */
const CHART_W = 600;
const CHART_H = 140;

function svgEl(name, attrs = {}) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/** A bucket's counts as numbers (missing or malformed counts are 0). */
function bucketCounts(bucket) {
  const n = (v) => (Number.isFinite(v) && v > 0 ? v : 0);
  return { read: n(bucket.read), write: n(bucket.write), failed: n(bucket.failed) };
}

/** A bucket's start as a short label in the browser's time zone (named, since the tables show
 * UTC): the date for day-sized buckets, else date and time. */
function bucketLabel(start, bucketSeconds, lang) {
  const date = new Date(start);
  if (Number.isNaN(date.getTime())) return String(start);
  const options = bucketSeconds >= 86400
    ? { month: "short", day: "numeric" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  return new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-US", options).format(date);
}

/** The column geometry of every bucket: pure, so the tests can check it against the counts. */
function chartLayout(buckets) {
  const counts = buckets.map(bucketCounts);
  const max = Math.max(1, ...counts.map((c) => Math.max(c.read + c.write, c.failed)));
  const slot = CHART_W / Math.max(1, buckets.length);
  const scale = (CHART_H - 2) / max;
  return {
    max,
    columns: counts.map((c, i) => {
      const x = i * slot + slot * 0.1;
      const width = slot * 0.8;
      const readH = c.read * scale;
      const writeH = c.write * scale;
      const failedH = c.failed * scale;
      return {
        ...c,
        read: { x, width, y: CHART_H - readH, height: readH, count: c.read },
        write: { x, width, y: CHART_H - readH - writeH, height: writeH, count: c.write },
        failed: { x: x + width * 0.25, width: width * 0.5, y: CHART_H - failedH, height: failedH, count: c.failed },
      };
    }),
  };
}

/** The chart of `timeline` ({bucket_seconds, buckets: [{start, read, write, failed}]}) as a
 * figure element, or null when it has no buckets. `lang` picks the labels' language. */
function timelineChart(timeline, lang) {
  const buckets = Array.isArray(timeline?.buckets) ? timeline.buckets : [];
  if (!buckets.length) return null;
  const seconds = Number(timeline.bucket_seconds) || 0;
  const layout = chartLayout(buckets);
  const figure = document.createElement("figure");
  figure.className = "timeline";
  const svg = svgEl("svg", {
    viewBox: `0 0 ${CHART_W} ${CHART_H}`,
    preserveAspectRatio: "none",
    role: "img",
    class: "timeline-svg",
  });
  const label = svgEl("title");
  label.textContent = t("timeline");
  svg.append(label, svgEl("line", { x1: 0, y1: CHART_H - 0.5, x2: CHART_W, y2: CHART_H - 0.5, class: "axis" }));
  buckets.forEach((bucket, i) => {
    const column = layout.columns[i];
    const g = svgEl("g", {
      class: "bucket",
      "data-start": String(bucket.start ?? ""),
      "data-read": column.read.count,
      "data-write": column.write.count,
      "data-failed": column.failed.count,
    });
    const tip = svgEl("title");
    tip.textContent = `${bucketLabel(bucket.start, seconds, lang)}: ${t("chartTip", column.read.count, column.write.count, column.failed.count)}`;
    g.append(tip);
    for (const kind of ["read", "write", "failed"]) {
      const bar = column[kind];
      if (bar.count > 0) g.append(svgEl("rect", { class: `bar-${kind}`, x: bar.x, y: bar.y, width: bar.width, height: bar.height }));
    }
    // The whole slot answers hovering (its title), even where the bars are short.
    g.append(svgEl("rect", { class: "hit", x: i * (CHART_W / buckets.length), y: 0, width: CHART_W / buckets.length, height: CHART_H }));
    svg.append(g);
  });
  const scale = document.createElement("div");
  scale.className = "timeline-scale";
  scale.textContent = t("chartMax", layout.max);
  const axis = document.createElement("div");
  axis.className = "timeline-axis";
  const first = document.createElement("span");
  first.textContent = bucketLabel(buckets[0].start, seconds, lang);
  const last = document.createElement("span");
  last.textContent = bucketLabel(buckets[buckets.length - 1].start, seconds, lang);
  axis.append(first, last);
  const legend = document.createElement("figcaption");
  legend.className = "timeline-legend";
  for (const kind of ["read", "write", "failed"]) {
    const item = document.createElement("span");
    item.className = `key key-${kind}`;
    item.textContent = t(kind === "failed" ? "failedPart" : kind);
    legend.append(item);
  }
  figure.append(scale, svg, axis, legend);
  return figure;
}
