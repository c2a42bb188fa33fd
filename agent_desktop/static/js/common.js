/* HappyCall desktop: helpers shared by the pages.  No inline scripts (CSP
 * script-src 'self'); customer data is only ever set with textContent. */
(function () {
  'use strict';

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : {};
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  /* POST JSON with the CSRF token; resolves to {ok, status, data}. */
  function postJson(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'Content-Type': 'application/json',
        'Accept': 'application/json',
        'X-CSRFToken': csrfToken()
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  /* GET JSON; resolves to {ok, status, data}. */
  function getJson(url) {
    return fetch(url, {
      method: 'GET',
      credentials: 'same-origin',
      headers: {'Accept': 'application/json'}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {ok: response.ok, status: response.status, data: data};
      });
    });
  }

  /* 75 -> "1:15", 3725 -> "1:02:05" */
  function formatDuration(seconds) {
    var total = Math.max(0, Math.floor(Number(seconds) || 0));
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var mm = h ? (m < 10 ? '0' : '') + m : String(m);
    return (h ? h + ':' : '') + mm + ':' + (s < 10 ? '0' : '') + s;
  }

  function setText(el, text) {
    if (el) { el.textContent = text == null ? '' : String(text); }
  }

  /* Socket.IO connection with a status line (#connection). */
  function connect(strings) {
    var status = document.getElementById('connection');
    var statusText = document.getElementById('connection-text');
    var socket = window.io({reconnectionDelayMax: 5000});

    function show(connected, text) {
      if (!status) { return; }
      status.dataset.connected = connected ? 'true' : 'false';
      status.dataset.transport = connected && socket.io.engine ? socket.io.engine.transport.name : '';
      setText(statusText, text);
    }

    socket.io.on('open', function () {
      /* long-polling first, then the websocket upgrade: keep the shown transport current */
      socket.io.engine.on('upgrade', function () {
        if (socket.connected) { show(true, strings.connected); }
      });
    });
    socket.on('connect', function () { show(true, strings.connected); });
    socket.on('disconnect', function (reason) {
      if (reason === 'io server disconnect') {
        show(false, strings.logged_out_elsewhere);   /* the server closed it: logged out */
      } else {
        show(false, strings.disconnected);
      }
    });
    socket.on('connect_error', function () { show(false, strings.disconnected); });
    return socket;
  }

  /* "2026-03-02 14:05:09" in the browser's time zone (same format as the server pages). */
  function formatTime(value) {
    var d = value ? new Date(value) : new Date();
    if (isNaN(d.getTime())) { return ''; }
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' +
      two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }

  window.HappyCall = {readJson: readJson, postJson: postJson, getJson: getJson, setText: setText,
                      connect: connect, formatTime: formatTime, formatDuration: formatDuration};
}());
