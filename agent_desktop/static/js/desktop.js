/* Agent desktop: state buttons and screen-pops. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var strings = HC.readJson('i18n');
  var root = document.getElementById('desktop');
  var agentId = Number(root.dataset.agentId);
  var stateUrl = root.dataset.stateUrl;
  var ticketBase = root.dataset.ticketBase;
  var stateEl = document.getElementById('agent-state');
  var reasonEl = document.getElementById('agent-state-reason');
  var errorEl = document.getElementById('state-error');
  var pops = document.getElementById('pops');
  var popsEmpty = document.getElementById('pops-empty');
  var popTemplate = document.getElementById('pop-template');
  var MAX_POPS = 6;

  function showError(message) {
    if (message) {
      HC.setText(errorEl, message);
      errorEl.hidden = false;
    } else {
      HC.setText(errorEl, '');
      errorEl.hidden = true;
    }
  }

  function showState(state, reason) {
    stateEl.dataset.state = state;
    HC.setText(stateEl, strings.states[state] || state);
    HC.setText(reasonEl, reason || '');
    document.body.dataset.agentState = state;
  }

  function requestState(target) {
    showError('');
    HC.postJson(stateUrl, {state: target}).then(function (result) {
      if (result.status === 401) {
        window.location.reload();   /* the session ended: back to the login page */
        return;
      }
      if (result.ok) {
        showState(result.data.state, result.data.reason);
      } else {
        showError(result.data.error || strings.request_failed);
        if (result.data.state) { showState(result.data.state, ''); }
      }
    }).catch(function () { showError(strings.request_failed); });
  }

  document.getElementById('btn-ready').addEventListener('click', function () { requestState('ready'); });
  document.getElementById('btn-not-ready').addEventListener('click', function () { requestState('not_ready'); });

  function formatWait(seconds) {
    var total = Math.max(0, Math.round(Number(seconds) || 0));
    var m = Math.floor(total / 60);
    var s = total % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function field(card, name, value) {
    HC.setText(card.querySelector('[data-field="' + name + '"]'), value);
  }

  function addPop(pop) {
    var card = popTemplate.content.firstElementChild.cloneNode(true);
    var ticketId = parseInt(pop.ticket_id, 10);
    field(card, 'type', strings.types[pop.type] || pop.type);
    field(card, 'queue', pop.queue);
    if (pop.customer_known) {
      field(card, 'customer_name', pop.customer_name);
    } else {
      field(card, 'customer_name', strings.unknown_caller);
      card.classList.add('unknown-customer');
    }
    field(card, 'caller_name', pop.caller_name || '—');
    field(card, 'waiting', formatWait(pop.waiting_seconds));
    field(card, 'incident_id', pop.incident_id);
    field(card, 'phone', pop.phone || '—');
    field(card, 'status', strings.statuses.offered || 'offered');
    card.dataset.status = 'offered';
    if (Number.isInteger(ticketId)) {
      card.href = ticketBase + ticketId;
      card.dataset.ticketId = String(ticketId);
    }
    card.dataset.channelId = String(pop.channel_id || '');
    var previous = pops.querySelectorAll('.screenpop.latest');
    for (var i = 0; i < previous.length; i++) { previous[i].classList.remove('latest'); }
    card.classList.add('latest');
    pops.insertBefore(card, pops.firstChild);
    while (pops.children.length > MAX_POPS) { pops.removeChild(pops.lastChild); }
    popsEmpty.hidden = true;
  }

  function markMissed() {
    var offered = pops.querySelectorAll('.screenpop[data-status="offered"]');
    for (var i = 0; i < offered.length; i++) {
      offered[i].dataset.status = 'missed';
      field(offered[i], 'status', strings.missed);
    }
  }

  var socket = HC.connect(strings);
  window.__happycallSocket = socket;   /* for tests and debugging */
  socket.on('screenpop', addPop);
  socket.on('agent_state', function (data) {
    if (Number(data.agent_id) !== agentId) { return; }
    var previous = stateEl.dataset.state;
    if (previous !== data.state) { showError(''); }
    if (previous === 'ringing' && data.state !== 'talking' && data.state !== 'ringing') {
      markMissed();   /* rang out, or the caller hung up before the answer */
    }
    showState(data.state, data.reason);
  });
  socket.on('ticket_updated', function (data) {
    var card = pops.querySelector('.screenpop[data-ticket-id="' + Number(data.ticket_id) + '"]');
    if (card) {
      card.dataset.status = data.status;
      field(card, 'status', strings.statuses[data.status] || data.status);
    }
  });
}());
