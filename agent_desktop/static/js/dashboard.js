/* Projection dashboard: today's tickets and the agents, per site, as bar charts
 * drawn here in inline SVG (no chart library).  Refreshed from
 * /api/floor/dashboard whenever the wallboard room reports a change. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var B = window.HappyCallBoard;
  var strings = HC.readJson('i18n');
  var root = document.getElementById('dashboard');
  var lang = root.dataset.lang;
  var apiUrl = '/api/floor/dashboard';

  var WIDTH = 640, LABEL_W = 190, VALUE_W = 50, BAR_H = 16, BAR_GAP = 3, GROUP_GAP = 12, PAD = 6;

  /* One horizontal grouped bar chart: a group per key, a bar per site. */
  function barChart(figure, title, keys, labels, sites, valueOf) {
    var plotW = WIDTH - LABEL_W - VALUE_W;
    var max = 1;
    keys.forEach(function (key) {
      sites.forEach(function (site) { max = Math.max(max, valueOf(site.code, key)); });
    });
    var groupH = sites.length * (BAR_H + BAR_GAP) - BAR_GAP;
    var height = PAD * 2 + keys.length * (groupH + GROUP_GAP) - GROUP_GAP;
    var chart = B.svg('svg', {viewBox: '0 0 ' + WIDTH + ' ' + Math.max(height, 40), width: '100%',
                              role: 'img', 'class': 'chart-svg', 'aria-label': title,
                              preserveAspectRatio: 'xMinYMin meet'});
    chart.appendChild(B.svg('title', {}, title));
    chart.appendChild(B.svg('line', {x1: LABEL_W, x2: LABEL_W, y1: PAD / 2, y2: height - PAD / 2,
                                     'class': 'axis'}));
    keys.forEach(function (key, i) {
      var gy = PAD + i * (groupH + GROUP_GAP);
      var group = B.svg('g', {'class': 'group', 'data-key': key});
      group.appendChild(B.svg('text', {x: LABEL_W - 10, y: gy + groupH / 2, 'text-anchor': 'end',
                                       'dominant-baseline': 'central', 'class': 'cat-label'},
                              labels[key] || key));
      sites.forEach(function (site, j) {
        var value = valueOf(site.code, key);
        var y = gy + j * (BAR_H + BAR_GAP);
        var w = value > 0 ? Math.max(3, plotW * value / max) : 0;
        var bar = B.svg('rect', {x: LABEL_W, y: y, width: w.toFixed(1), height: BAR_H, rx: 3,
                                 'class': 'bar site-' + (j % 6), 'data-site': site.code, 'data-key': key,
                                 'data-value': value});
        bar.appendChild(B.svg('title', {}, site.label + ' · ' + (labels[key] || key) + ': ' + value));
        group.appendChild(bar);
        group.appendChild(B.svg('text', {x: LABEL_W + w + 6, y: y + BAR_H / 2, 'dominant-baseline': 'central',
                                         'class': 'bar-value', 'data-site': site.code, 'data-key': key},
                                value));
      });
      chart.appendChild(group);
    });
    var body = figure.querySelector('.chart-body');
    body.replaceChildren(chart);
  }

  function legend(d, sites) {
    var list = document.getElementById('site-legend');
    list.replaceChildren.apply(list, sites.map(function (site, j) {
      var li = document.createElement('li');
      li.dataset.site = site.code;
      var swatch = document.createElement('span');
      swatch.className = 'swatch site-' + (j % 6);
      var name = document.createElement('span');
      name.className = 'site-name';
      name.textContent = site.label;
      var count = document.createElement('span');
      count.className = 'site-count';
      count.dataset.siteTickets = String(d.tickets.by_site[site.code].total);
      count.textContent = d.tickets.by_site[site.code].total;
      li.appendChild(swatch);
      li.appendChild(name);
      li.appendChild(count);
      return li;
    }));
    var total = document.getElementById('tickets-total');
    total.dataset.value = String(d.tickets.total.total);
    HC.setText(total, d.tickets.total.total);
  }

  function render(d) {
    if (!d || !B.acceptServerTime(d.server_time)) { return; }
    var sites = d.sites.map(function (s) { return {code: s.code, label: B.siteLabel(s, strings)}; });
    legend(d, sites);
    function tickets(field) {
      return function (code, key) { return d.tickets.by_site[code][field][key] || 0; };
    }
    barChart(document.getElementById('chart-intake'), strings.chart_intake, d.intake_types, strings.channels,
             sites, tickets('by_intake_type'));
    barChart(document.getElementById('chart-status'), strings.chart_status, d.statuses, strings.statuses,
             sites, tickets('by_status'));
    barChart(document.getElementById('chart-stage'), strings.chart_stage, d.stages, strings.stages,
             sites, tickets('by_stage'));
    barChart(document.getElementById('chart-agents'), strings.chart_agents, d.states, strings.states,
             sites, function (code, key) { return d.agents.by_site[code][key] || 0; });
    root.dataset.serverTime = d.server_time;
  }

  /* One request at a time; a change during a request asks for one more. */
  var loading = false, again = false;
  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(apiUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(render)
      .catch(function () { /* the status line shows the connection */ })
      .then(function () {
        loading = false;
        if (again) { again = false; refresh(); }
      });
  }

  var initial = HC.readJson('dashboard-data');
  render(initial);
  B.startClock(document.getElementById('board-clock'), initial.timezone, lang);
  B.connect(strings, refresh);
}());
