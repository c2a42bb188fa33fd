/* Agent desktop: escalation notices from Socket.IO (a ticket assigned to me or my
 * group, a ticket I escalated resolved, a severity 1/2 ticket whose progress is
 * overdue).  Uses the desktop's socket (desktop.js); text only, never HTML. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var socket = window.__happycallSocket;
  var list = document.getElementById('escalation-notices');
  var empty = document.getElementById('escalation-notices-empty');
  var root = document.getElementById('desktop');
  if (!socket || !list || !root) { return; }
  var strings = HC.readJson('escalation-strings');
  var ticketBase = root.dataset.ticketBase;
  var lang = document.documentElement.lang;
  var MAX = 20;

  function fmt(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, function (_m, key) {
      return values[key] == null ? '' : String(values[key]);
    });
  }

  function add(kind, data, text) {
    var li = document.createElement('li');
    li.className = 'notice notice-' + kind;
    li.dataset.kind = kind;
    li.dataset.ticketId = String(Number(data.ticket_id));
    var link = document.createElement('a');
    link.href = ticketBase + Number(data.ticket_id);
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = data.incident_id || ('#' + Number(data.ticket_id));
    var body = document.createElement('span');
    body.className = 'notice-text';
    body.textContent = ' ' + text;
    var when = document.createElement('time');
    when.className = 'notice-time';
    when.textContent = HC.formatTime(data.at);
    li.appendChild(link);
    li.appendChild(body);
    if (data.reason) {
      var reason = document.createElement('span');
      reason.className = 'notice-reason';
      reason.textContent = data.reason;
      li.appendChild(reason);
    }
    li.appendChild(when);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX) { list.removeChild(list.lastChild); }
    empty.hidden = true;
    return li;
  }

  socket.on('escalation', function (data) {
    var group = lang === 'en' ? data.group_en : data.group;
    var template = data.automatic ? strings.auto_assigned : (data.to ? strings.assigned_to_you : strings.assigned_to_group);
    add('escalation', data, fmt(template, {group: group, by: data.by}));
  });
  socket.on('escalation_resolved', function (data) {
    add('resolved', data, fmt(strings.resolved, {by: data.by}));
  });
  socket.on('ticket_overdue', function (data) {
    if (!data.overdue) {
      var old = list.querySelectorAll('li[data-kind="overdue"][data-ticket-id="' + Number(data.ticket_id) + '"]');
      for (var i = 0; i < old.length; i++) { old[i].classList.add('cleared'); old[i].dataset.kind = 'overdue-cleared'; }
      return;
    }
    add('overdue', data, fmt(strings.overdue, {severity: data.severity}));
  });
}());
