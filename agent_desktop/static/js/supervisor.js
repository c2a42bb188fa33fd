/* Supervisor screen: live agent states and ticket activity. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var strings = HC.readJson('i18n');
  var activity = document.getElementById('activity');
  var activityEmpty = document.getElementById('activity-empty');
  var ticketBase = document.getElementById('supervisor').dataset.ticketBase;

  function row(agentId) {
    return document.querySelector('#agents-table tr[data-agent-id="' + Number(agentId) + '"]');
  }

  function recount() {
    var counts = {};
    var badges = document.querySelectorAll('#agents-table tr[data-role="agent"] .state-badge');
    for (var i = 0; i < badges.length; i++) {
      var s = badges[i].dataset.state;
      counts[s] = (counts[s] || 0) + 1;
    }
    var cells = document.querySelectorAll('[data-count-for]');
    for (var j = 0; j < cells.length; j++) {
      HC.setText(cells[j], counts[cells[j].dataset.countFor] || 0);
    }
  }

  function agentName(agentId) {
    var r = row(agentId);
    return r ? r.cells[0].textContent : '#' + agentId;
  }

  var socket = HC.connect(strings);
  socket.on('agent_state', function (data) {
    var r = row(data.agent_id);
    if (!r) { return; }
    var badge = r.querySelector('.state-badge');
    var changed = badge.dataset.state !== data.state;
    badge.dataset.state = data.state;
    HC.setText(badge, strings.states[data.state] || data.state);
    HC.setText(r.querySelector('.state-reason'), data.reason || '');
    if (data.since || changed) {
      HC.setText(r.querySelector('.since'), HC.formatTime(data.since));
    }
    recount();
  });
  socket.on('ticket_updated', function (data) {
    var item = document.createElement('li');
    var link = document.createElement('a');
    var ticketId = parseInt(data.ticket_id, 10);
    link.href = ticketBase + ticketId;
    link.textContent = strings.ticket + ' #' + ticketId;
    var status = document.createElement('span');
    status.className = 'status-badge';
    status.dataset.status = data.status;
    status.textContent = strings.statuses[data.status] || data.status;
    var who = document.createElement('span');
    who.className = 'muted';
    who.textContent = (data.agent_id ? agentName(data.agent_id) + ' · ' : '') + HC.formatTime();
    item.appendChild(link);
    item.appendChild(status);
    item.appendChild(who);
    activity.insertBefore(item, activity.firstChild);
    while (activity.children.length > 50) { activity.removeChild(activity.lastChild); }
    activityEmpty.hidden = true;
  });
}());
