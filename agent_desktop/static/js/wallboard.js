/* Wallboard: big figures for the floor, per queue and in total, live from the
 * `wallboard` Socket.IO room; the longest-wait clocks tick here every second. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var B = window.HappyCallBoard;
  var strings = HC.readJson('i18n');
  var root = document.getElementById('wallboard');
  var lang = root.dataset.lang;
  var tbody = document.querySelector('#queues-table tbody');
  var TALK = ['le_3m', 'le_5m', 'le_10m', 'gt_10m'];
  var queueStates = root.dataset.queueStates.split(' ');

  function pick(obj, path) {
    return path.split('.').reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }

  /* data-value keeps the raw number for tools and tests; the text is for people. */
  function show(el, figures, key) {
    if (key === 'sl_counted') {
      var counted = figures.answered + figures.abandoned - figures.short_abandoned;
      el.dataset.value = String(counted);
      HC.setText(el, counted);
      return;
    }
    if (key === 'longest_wait') {
      el.dataset.since = figures.longest_wait_since || '';
      el.dataset.value = figures.longest_wait_s == null ? '' : String(figures.longest_wait_s);
      tickOne(el);
      return;
    }
    var value = pick(figures, key);
    el.dataset.value = value == null ? '' : String(value);
    HC.setText(el, key === 'service_level_share' ? B.formatShare(value) : (value == null ? '—' : value));
  }

  function fill(container, figures) {
    var els = container.querySelectorAll('[data-figure]');
    for (var i = 0; i < els.length; i++) { show(els[i], figures, els[i].dataset.figure); }
  }

  function cell(tag, figure, cls) {
    var el = document.createElement(tag);
    if (figure) { el.dataset.figure = figure; }
    if (cls) { el.className = cls; }
    return el;
  }

  function queueRow(q) {
    var tr = document.createElement('tr');
    tr.dataset.queue = q.name;
    var name = cell('th', '', 'queue-title');
    name.scope = 'row';
    name.textContent = (lang === 'en' ? q.title_en : q.title) || q.name;
    var threshold = document.createElement('small');
    threshold.className = 'sl-threshold';
    threshold.textContent = ' SL ' + Math.round(q.service_level_s) + 's';
    name.appendChild(threshold);
    tr.appendChild(name);
    var site = cell('td', '', 'site');
    site.textContent = q.site === 'unspecified' ? strings.unspecified : q.site;
    tr.appendChild(site);
    ['waiting_now', 'longest_wait', 'answered', 'answered_within_sl', 'service_level_share', 'abandoned']
      .concat(TALK.map(function (k) { return 'talk_time.' + k; }))
      .concat(queueStates.map(function (s) { return 'agents_by_state.' + s; }))
      .forEach(function (key) { tr.appendChild(cell('td', key, 'num')); });
    tr.classList.toggle('has-waiting', q.waiting_now > 0);
    fill(tr, q);
    return tr;
  }

  function agentItem(a) {
    var li = document.createElement('li');
    li.dataset.agentId = String(a.id);
    li.dataset.state = a.state;
    var name = document.createElement('span');
    name.className = 'agent-name';
    name.textContent = a.name;
    var badge = document.createElement('span');
    badge.className = 'state-badge';
    badge.dataset.state = a.state;
    badge.textContent = strings.states[a.state] || a.state;
    li.appendChild(name);
    li.appendChild(badge);
    return li;
  }

  function render(d) {
    if (!d || !B.acceptServerTime(d.server_time)) { return; }
    fill(document.getElementById('total'), d.total);
    fill(document.getElementById('talk-total'), d.total);
    fill(document.getElementById('queues-total'), d.total);
    document.querySelector('[data-tile="waiting_now"]').classList.toggle('alert-on', d.total.waiting_now > 0);
    document.querySelector('[data-tile="overdue_tickets"]').classList.toggle('alert-on', d.total.overdue_tickets > 0);
    tbody.replaceChildren.apply(tbody, d.queues.map(queueRow));
    d.states.forEach(function (state) {
      var el = document.querySelector('[data-state-count="' + state + '"]');
      if (el) {
        el.dataset.value = String(d.total.agents_by_state[state] || 0);
        HC.setText(el, d.total.agents_by_state[state] || 0);
      }
    });
    var list = document.getElementById('agent-list');
    list.replaceChildren.apply(list, d.agents.map(agentItem));
    document.getElementById('agents-empty').hidden = d.agents.length > 0;
    root.dataset.serverTime = d.server_time;
  }

  function tickOne(el) {
    var seconds = B.secondsSince(el.dataset.since);
    HC.setText(el, seconds === null ? '—' : B.formatDuration(seconds));
    el.dataset.seconds = seconds === null ? '' : String(Math.floor(seconds));
  }

  function tick() {
    var els = document.querySelectorAll('[data-figure="longest_wait"]');
    for (var i = 0; i < els.length; i++) { tickOne(els[i]); }
  }

  var initial = HC.readJson('wallboard-data');
  render(initial);
  B.startClock(document.getElementById('board-clock'), initial.timezone, lang);
  window.setInterval(tick, 1000);
  B.connect(strings, render);
}());
