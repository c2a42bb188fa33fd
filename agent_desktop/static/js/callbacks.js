/* The abandoned-call list (agent desktop and supervisor screen): callers who
 * hung up before an agent answered, each with a one-click "Call back".
 * Caller names and numbers come from SIP headers (attacker-controlled): they are
 * only ever set with textContent.  The list is read again (GET) whenever the
 * server says it changed (Socket.IO "callbacks_changed") and on every reconnect. */
(function () {
  'use strict';
  var HC = window.HappyCall;

  function init(socket, strings) {
    var panel = document.getElementById('callbacks-panel');
    if (!panel) { return null; }
    var listUrl = panel.dataset.listUrl;
    var body = document.getElementById('callbacks');
    var table = document.getElementById('callbacks-table');
    var empty = document.getElementById('callbacks-empty');
    var count = document.getElementById('callbacks-count');
    var statusEl = document.getElementById('callbacks-status');
    var template = document.getElementById('callback-template');
    var pageRoot = document.getElementById('desktop') || document.getElementById('supervisor');
    var ticketBase = pageRoot ? pageRoot.dataset.ticketBase : '';
    var ASKED_FOR_MS = 30000;
    var asked = {};          /* callback id -> when our "Call back" was accepted (button stays busy) */
    var pending = {};        /* callback id -> our "Call back" request is on its way */
    var timer = null;
    var loading = false;
    var again = false;

    function showStatus(text, isError) {
      HC.setText(statusEl, text || '');
      statusEl.dataset.error = isError ? 'true' : 'false';
      statusEl.hidden = !text;
    }

    function field(row, name, value) {
      HC.setText(row.querySelector('[data-field="' + name + '"]'), value);
    }

    function attemptsText(entry) {
      var text = String(Number(entry.attempts) || 0);
      if (entry.outcome) {
        text += ' · ' + ((strings.callback_outcomes || {})[entry.outcome] || entry.outcome);
      }
      return text;
    }

    function rowFor(entry) {
      var row = template.content.firstElementChild.cloneNode(true);
      var id = parseInt(entry.id, 10);
      row.dataset.callbackId = String(id);
      row.dataset.callbackStatus = String(entry.status || '');
      row.dataset.kind = String(entry.kind || '');
      field(row, 'caller_name', entry.caller_name || '—');
      if (entry.kind === 'requested') {
        var kind = row.querySelector('[data-field="kind"]');
        HC.setText(kind, (strings.callback_kinds || {}).requested || entry.kind);
        kind.hidden = false;
      }
      field(row, 'number', entry.number || '—');
      field(row, 'customer_name', entry.customer_name || (entry.customer_id ? '' : strings.unknown_caller));
      var ticketId = parseInt(entry.ticket_id, 10);
      var link = row.querySelector('[data-field="incident_id"]');
      if (Number.isInteger(ticketId) && entry.incident_id) {
        link.href = ticketBase + ticketId;
        HC.setText(link, entry.incident_id);
      } else {
        link.parentNode.removeChild(link);
      }
      field(row, 'queue', entry.queue_label || entry.queue || '—');
      field(row, 'place_at', HC.formatTime(entry.place_at));
      field(row, 'wait', entry.wait_seconds == null ? '—' : HC.formatDuration(entry.wait_seconds));
      field(row, 'attempts', attemptsText(entry));

      var callButton = row.querySelector('.btn-call-back');
      if (pending[id]) {
        callButton.disabled = true;   /* a list read while our request is on its way */
      } else if (entry.status === 'dialing' || (asked[id] && Date.now() - asked[id] < ASKED_FOR_MS)) {
        callButton.disabled = true;
        HC.setText(callButton, strings.calling_back);
      } else if (!entry.dialable) {
        callButton.disabled = true;
        callButton.title = strings.no_number;
      }
      callButton.addEventListener('click', function () { callBack(id, callButton); });
      var removeButton = row.querySelector('.btn-remove-callback');
      if (removeButton) {
        removeButton.disabled = entry.status === 'dialing';
        removeButton.addEventListener('click', function () { remove(id, removeButton); });
      }
      return row;
    }

    function render(entries) {
      while (body.firstChild) { body.removeChild(body.firstChild); }
      var shown = {};
      for (var i = 0; i < entries.length; i++) {
        body.appendChild(rowFor(entries[i]));
        shown[parseInt(entries[i].id, 10)] = entries[i].status;
      }
      /* An entry the telephony side took (dialing) or dropped is no longer ours to wait for. */
      Object.keys(asked).forEach(function (id) {
        if (shown[id] !== 'open') { delete asked[id]; }
      });
      table.hidden = !entries.length;
      empty.hidden = !!entries.length;
      HC.setText(count, entries.length);
      panel.dataset.loaded = 'true';
    }

    function load() {
      if (loading) { again = true; return; }
      loading = true;
      HC.getJson(listUrl).then(function (result) {
        loading = false;
        if (result.status === 401) { window.location.reload(); return; }
        if (result.ok) {
          render(result.data.callbacks || []);
        } else {
          showStatus(result.data.error || strings.request_failed, true);
        }
        if (again) { again = false; load(); }
      }).catch(function () {
        loading = false;
        showStatus(strings.request_failed, true);
      });
    }

    function refresh() {
      if (timer) { return; }
      timer = window.setTimeout(function () { timer = null; load(); }, 150);
    }

    /* The row's button now: a list read may have rebuilt the row meanwhile. */
    function currentButton(id, button) {
      return body.querySelector('tr[data-callback-id="' + id + '"] .btn-call-back') || button;
    }

    function callBack(id, button) {
      button.disabled = true;
      pending[id] = true;
      showStatus('');
      HC.postJson(listUrl + '/' + id + '/call', {}).then(function (result) {
        delete pending[id];
        if (result.status === 401) { window.location.reload(); return; }
        button = currentButton(id, button);
        if (result.status === 202) {
          asked[id] = Date.now();
          button.disabled = true;
          HC.setText(button, strings.calling_back);
          showStatus(result.data.message || '');
          /* Nothing happened after a while (the phone could not be rung): the button comes back. */
          window.setTimeout(refresh, ASKED_FOR_MS + 100);
        } else {
          button.disabled = false;
          showStatus(result.data.error || strings.request_failed, true);
          refresh();
        }
      }).catch(function () {
        delete pending[id];
        button = currentButton(id, button);
        button.disabled = false;
        showStatus(strings.request_failed, true);
      });
    }

    function remove(id, button) {
      button.disabled = true;
      showStatus('');
      HC.postJson(listUrl + '/' + id + '/cancel', {}).then(function (result) {
        if (result.status === 401) { window.location.reload(); return; }
        if (result.ok) {
          showStatus(strings.removed);
        } else {
          button.disabled = false;
          showStatus(result.data.error || strings.request_failed, true);
        }
        refresh();
      }).catch(function () {
        button.disabled = false;
        showStatus(strings.request_failed, true);
      });
    }

    socket.on('callbacks_changed', refresh);
    socket.on('connect', refresh);     /* first connection and every reconnect: catch up */
    load();
    return {refresh: refresh};
  }

  window.HappyCallCallbacks = {init: init};
}());
