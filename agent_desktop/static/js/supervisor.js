/* Supervisor screen: live agent states (with a state changer per agent), live
 * calls with listen / whisper / barge and "move to queue", the abandoned-call
 * list and ticket activity.  Caller names and numbers are set with textContent. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var strings = HC.readJson('i18n');
  var root = document.getElementById('supervisor');
  var activity = document.getElementById('activity');
  var activityEmpty = document.getElementById('activity-empty');
  var ticketBase = root.dataset.ticketBase;
  var agentStateUrl = root.dataset.agentStateUrl;

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

  function showAgentState(r, data) {
    var badge = r.querySelector('.state-badge');
    var changed = badge.dataset.state !== data.state;
    badge.dataset.state = data.state;
    HC.setText(badge, strings.states[data.state] || data.state);
    var reason = data.reason || '';
    var reasonEl = r.querySelector('.state-reason');
    reasonEl.dataset.reason = reason;
    HC.setText(reasonEl, reason ? (strings.reasons[reason] || reason) : '');
    if (data.since || changed) {
      HC.setText(r.querySelector('.since'), HC.formatTime(data.since));
    }
    recount();
  }

  /* ---- state changer per agent ------------------------------------------------------ */
  function rowError(r, text) {
    var el = r.querySelector('.row-error');
    if (!el) { return; }
    HC.setText(el, text || '');
    el.hidden = !text;
  }

  document.getElementById('agents-table').addEventListener('click', function (event) {
    var button = event.target.closest('.btn-set-state');
    if (!button) { return; }
    var r = button.closest('tr[data-agent-id]');
    var value = r.querySelector('.state-target').value;
    var parts = value.split(':');
    var body = {state: parts[0]};
    if (parts[0] === 'not_ready') { body.reason = parts[1] || 'other'; }
    var url = agentStateUrl.replace(/\/0\/state$/, '/' + Number(r.dataset.agentId) + '/state');
    button.disabled = true;
    rowError(r, '');
    HC.postJson(url, body).then(function (result) {
      button.disabled = false;
      if (result.status === 401) { window.location.reload(); return; }
      if (result.ok) {
        showAgentState(r, result.data);
      } else {
        rowError(r, result.data.error || strings.request_failed);
      }
    }).catch(function () {
      button.disabled = false;
      rowError(r, strings.request_failed);
    });
  });

  /* ---- live calls ---------------------------------------------------------------------- */
  var callsPanel = document.getElementById('calls-panel');
  var callsUrl = callsPanel ? callsPanel.dataset.callsUrl : null;
  var callRows = new Map();        /* channel id -> <tr> (ids may hold any character) */
  var queues = [];
  var offsetMs = 0;                /* server clock - browser clock */
  var callsTimer = null;
  var callsLoading = false;
  var callsAgain = false;

  function showCallsStatus(text, isError) {
    var el = document.getElementById('calls-status');
    HC.setText(el, text || '');
    el.dataset.error = isError ? 'true' : 'false';
    el.hidden = !text;
  }

  function cell(text, className) {
    var td = document.createElement('td');
    if (className) { td.className = className; }
    HC.setText(td, text);
    return td;
  }

  function button(label, className, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-small ' + className;
    HC.setText(b, label);
    b.addEventListener('click', function () { onClick(b); });
    return b;
  }

  function ask(url, body, control) {
    control.disabled = true;
    showCallsStatus('');
    HC.postJson(url, body).then(function (result) {
      control.disabled = false;
      if (result.status === 401) { window.location.reload(); return; }
      if (result.status === 202) {
        showCallsStatus(result.data.message || '');
      } else {
        showCallsStatus(result.data.error || strings.request_failed, true);
        refreshCalls();
      }
    }).catch(function () {
      control.disabled = false;
      showCallsStatus(strings.request_failed, true);
    });
  }

  function actionsFor(call) {
    var box = document.createElement('div');
    box.className = 'call-actions';
    if (call.outcome === 'talking') {
      ['listen', 'whisper', 'barge'].forEach(function (mode) {
        var b = button(strings.monitor[mode] || mode, 'btn-monitor', function (control) {
          ask(callsPanel.dataset.monitorUrl, {channel_id: call.channel_id, mode: mode}, control);
        });
        b.dataset.mode = mode;
        box.appendChild(b);
      });
    } else if (call.outcome === 'queued') {
      var select = document.createElement('select');
      select.className = 'move-target';
      select.setAttribute('aria-label', strings.move_to);
      queues.forEach(function (q) {
        if (q.name === call.queue) { return; }
        var option = document.createElement('option');
        option.value = q.name;
        HC.setText(option, q.label);
        select.appendChild(option);
      });
      box.appendChild(select);
      box.appendChild(button(strings.move, 'btn-move', function (control) {
        ask(callsPanel.dataset.moveUrl, {channel_id: call.channel_id, queue: select.value}, control);
      }));
    }
    return box;
  }

  function waitingSince(call) {
    return (call.outcome === 'queued' || call.outcome === 'ringing') ? (call.queued_at || '') : '';
  }

  function fillCall(tr, call) {
    HC.setText(tr.cells[0], call.caller_name || '—');
    HC.setText(tr.cells[1], call.caller_number || '—');
    var badge = tr.cells[2].firstChild;
    badge.dataset.outcome = call.outcome || '';
    HC.setText(badge, strings.outcomes[call.outcome || ''] || call.outcome);
    HC.setText(tr.cells[3], call.queue_label || call.queue || '—');
    HC.setText(tr.cells[4], call.agent || '—');
    tr.cells[5].dataset.since = waitingSince(call);
    /* The actions are rebuilt only when they change (keeps an open "move to" choice). */
    var key = (call.outcome || '') + '|' + (call.queue || '') + '|' + queues.length;
    if (tr.dataset.actionsKey !== key) {
      tr.dataset.actionsKey = key;
      while (tr.cells[6].firstChild) { tr.cells[6].removeChild(tr.cells[6].firstChild); }
      tr.cells[6].appendChild(actionsFor(call));
    }
    tr.dataset.outcome = call.outcome || '';
    tr.dataset.queue = call.queue || '';
  }

  function newCallRow(call) {
    var tr = document.createElement('tr');
    tr.className = 'live-call';
    tr.dataset.channelId = call.channel_id;
    tr.appendChild(cell('', 'call-caller'));
    tr.appendChild(cell('', 'call-number'));
    var state = document.createElement('td');
    var badge = document.createElement('span');
    badge.className = 'call-state';
    state.appendChild(badge);
    tr.appendChild(state);
    tr.appendChild(cell('', 'call-queue'));
    tr.appendChild(cell('', 'call-agent'));
    tr.appendChild(cell('', 'call-wait'));
    tr.appendChild(cell('', 'call-actions-cell'));
    return tr;
  }

  function tickWaits() {
    callRows.forEach(function (tr) {
      var since = Date.parse(tr.cells[5].dataset.since || '');
      HC.setText(tr.cells[5], isNaN(since) ? '—' : HC.formatDuration((Date.now() + offsetMs - since) / 1000));
    });
  }

  function renderCalls(data) {
    var serverMs = Date.parse(data.server_time || '');
    if (!isNaN(serverMs)) { offsetMs = serverMs - Date.now(); }
    queues = data.queues || queues;
    var body = document.getElementById('calls');
    var seen = new Set();
    (data.calls || []).forEach(function (call) {
      seen.add(call.channel_id);
      var tr = callRows.get(call.channel_id);
      if (!tr) {
        tr = newCallRow(call);
        callRows.set(call.channel_id, tr);
      }
      fillCall(tr, call);
      body.appendChild(tr);        /* keeps the server's order (oldest first) */
    });
    callRows.forEach(function (tr, channelId) {
      if (!seen.has(channelId)) {
        tr.parentNode.removeChild(tr);
        callRows.delete(channelId);
      }
    });
    document.getElementById('calls-table').hidden = callRows.size === 0;
    document.getElementById('calls-empty').hidden = callRows.size !== 0;
    HC.setText(document.getElementById('calls-count'), callRows.size);
    callsPanel.dataset.loaded = 'true';
    tickWaits();
  }

  function loadCalls() {
    if (callsLoading) { callsAgain = true; return; }
    callsLoading = true;
    HC.getJson(callsUrl).then(function (result) {
      callsLoading = false;
      if (result.status === 401) { window.location.reload(); return; }
      if (result.ok) {
        renderCalls(result.data);
      } else {
        showCallsStatus(result.data.error || strings.request_failed, true);
      }
      if (callsAgain) { callsAgain = false; loadCalls(); }
    }).catch(function () {
      callsLoading = false;
      showCallsStatus(strings.request_failed, true);
    });
  }

  function refreshCalls() {
    if (!callsUrl || callsTimer) { return; }
    callsTimer = window.setTimeout(function () { callsTimer = null; loadCalls(); }, 150);
  }

  /* ---- live updates ------------------------------------------------------------------- */
  var socket = HC.connect(strings);
  window.__happycallSocket = socket;   /* for tests and debugging */
  socket.on('agent_state', function (data) {
    var r = row(data.agent_id);
    if (r) { showAgentState(r, data); }
    refreshCalls();                    /* ringing / talking show on the calls too */
  });
  socket.on('call_updated', refreshCalls);
  socket.on('connect', refreshCalls);
  socket.on('ticket_updated', function (data) {
    refreshCalls();
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
  if (callsUrl) {
    loadCalls();
    window.setInterval(tickWaits, 1000);
  }
  if (window.HappyCallCallbacks) { window.HappyCallCallbacks.init(socket, strings); }
}());
