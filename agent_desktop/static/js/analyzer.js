/* Analyzer page: one SVG bar chart per report, drawn from the JSON the page
 * carries (#analyzer-data).  Names (agents, queues) are set with textContent
 * only; nothing from the data goes through innerHTML. */
(function () {
  'use strict';
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var COLOURS = ['#2563eb', '#16a34a', '#f59e0b', '#db2777', '#7c3aed', '#0891b2', '#64748b'];
  var W = 720, H = 260, PAD_L = 48, PAD_R = 12, PAD_T = 14, PAD_B = 46;

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function svg(name, attrs, text) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) { el.textContent = String(text); }
    return el;
  }

  /* "2026-11-02" -> "11-02" (days on the axis); anything else as it is. */
  function shortLabel(v) {
    var text = String(v);
    return /^\d{4}-\d{2}-\d{2}$/.test(text) ? text.slice(5) : text;
  }

  function number(v) { var n = Number(v); return isFinite(n) ? n : 0; }

  /* A round upper bound for the axis: 1, 2, 5 x 10^k. */
  function niceMax(v) {
    if (v <= 0) { return 1; }
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (v <= steps[i] * p) { return steps[i] * p; } }
    return 10 * p;
  }

  function draw(figure, report, strings) {
    var chart = report.chart, rows = report.rows, series = chart.series;
    while (figure.firstChild) { figure.removeChild(figure.firstChild); }
    if (!rows.length) {
      figure.appendChild(svg('svg', {viewBox: '0 0 ' + W + ' 40', 'class': 'chart-svg', role: 'img'}))
        .appendChild(svg('text', {x: W / 2, y: 24, 'text-anchor': 'middle', 'class': 'chart-empty'}, strings.no_data));
      figure.setAttribute('data-drawn', 'empty');
      return;
    }
    var totals = rows.map(function (row) {
      return chart.stacked ? series.reduce(function (a, s) { return a + number(row[s.key]); }, 0)
        : Math.max.apply(null, series.map(function (s) { return number(row[s.key]); }));
    });
    var top = niceMax(Math.max.apply(null, totals));
    var counts = rows.every(function (row) {
      return series.every(function (s) { return number(row[s.key]) % 1 === 0; });
    });
    if (counts && top < 4) { top = 4; }   /* whole-number ticks for small counts */
    var root = svg('svg', {viewBox: '0 0 ' + W + ' ' + H, 'class': 'chart-svg', role: 'img'});
    root.appendChild(svg('title', {}, report.title));
    var plotW = W - PAD_L - PAD_R, plotH = H - PAD_T - PAD_B;
    var y = function (v) { return PAD_T + plotH - (v / top) * plotH; };
    /* Gridlines: 5 steps, or 4 when that keeps whole-number steps for counts (top 4, 20, 100...). */
    var steps = counts && (top / 5) % 1 !== 0 ? 4 : 5;
    for (var t = 0; t <= steps; t++) {
      var v = top * t / steps, yy = y(v);
      root.appendChild(svg('line', {x1: PAD_L, x2: W - PAD_R, y1: yy, y2: yy, 'class': 'grid'}));
      root.appendChild(svg('text', {x: PAD_L - 6, y: yy + 4, 'text-anchor': 'end', 'class': 'tick'},
        Math.round(v * 100) / 100));
    }
    var band = plotW / rows.length, inner = band * 0.75;
    /* Labels about 60 px apart at most: every label for hours, every few for long day ranges. */
    var labelEvery = rows.length <= 24 ? 1 : Math.ceil(rows.length / Math.floor(plotW / 60));
    var barW = chart.stacked ? inner : inner / series.length;
    var bars = 0;
    rows.forEach(function (row, i) {
      var x0 = PAD_L + i * band + (band - inner) / 2, base = 0;
      series.forEach(function (s, j) {
        var value = number(row[s.key]);
        var x = chart.stacked ? x0 : x0 + j * barW;
        var yTop = y(base + value), yBottom = y(base);
        var rect = svg('rect', {x: x, y: yTop, width: Math.max(1, barW - 1), height: Math.max(0, yBottom - yTop),
                                fill: COLOURS[j % COLOURS.length], 'class': 'bar', 'data-series': s.key,
                                'data-value': value});
        rect.appendChild(svg('title', {}, String(row[chart.category]) + ' · ' + s.label + ': ' + value));
        root.appendChild(rect);
        bars++;
        if (chart.stacked) { base += value; }
      });
      if (i % labelEvery === 0) {
        root.appendChild(svg('text', {x: x0 + inner / 2, y: H - PAD_B + 16, 'text-anchor': 'middle',
                                      'class': 'category'}, shortLabel(row[chart.category])));
      }
    });
    var lx = PAD_L;
    series.forEach(function (s, j) {
      root.appendChild(svg('rect', {x: lx, y: H - 18, width: 10, height: 10, fill: COLOURS[j % COLOURS.length]}));
      var label = svg('text', {x: lx + 14, y: H - 9, 'class': 'legend'}, s.label);
      root.appendChild(label);
      lx += 24 + 7.5 * String(s.label).length;
    });
    figure.appendChild(root);
    figure.setAttribute('data-drawn', String(bars));
  }

  function start() {
    var reports = readJson('analyzer-data') || [];
    var strings = readJson('analyzer-i18n') || {};
    reports.forEach(function (report) {
      var figure = document.querySelector('figure[data-chart="' + report.name + '"]');
      if (figure) { draw(figure, report, strings); }
    });
  }

  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
}());
