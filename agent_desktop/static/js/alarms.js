/* Early warning banner (docs/alarms.md) on every logged-in page: the open major
 * alarms from #alarm-data, then live changes (Socket.IO event "alarm") on the
 * page's own connection (window.__happycallSocket: desktop, supervisor, wallboard,
 * dashboard).  A raised alarm plays a sound (WebAudio beeps; if the browser blocks
 * audio until the user interacts, a button enables it).  Supervisors acknowledge,
 * close, and call the customer's IT contact into the hot line.  Alarm texts come
 * from outside systems: textContent only, never HTML. */
(function () {
  'use strict';
  var banner = document.getElementById('alarm-banner');
  var list = document.getElementById('alarm-list');
  if (!banner || !list) { return; }
  function readJson(id) {
    var el = document.getElementById(id);
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }
  var strings = readJson('alarm-strings') || {};
  var supervisor = banner.dataset.supervisor === 'true';
  var extension = banner.dataset.extension || '';
  var base = banner.dataset.base;     /* "/alarms/" */
  var soundButton = document.getElementById('alarm-sound-enable');
  var alarms = {};                    /* id -> alarm, open ones only */
  var audio = null;
  var pendingSound = false;

  function fmt(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, function (_m, key) {
      return values[key] == null ? '' : String(values[key]);
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = String(text); }
    return e;
  }
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }
  function post(url, body) {
    return fetch(url, {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': csrf()},
      body: JSON.stringify(body || {})}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return {ok: r.ok, data: data}; });
    });
  }

  /* ---- sound: three short beeps ---- */
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { banner.dataset.sound = 'unsupported'; return; }
    if (!audio) {
      try { audio = new Ctx(); } catch (e) { banner.dataset.sound = 'unsupported'; return; }
    }
    var start = function () {
      var t = audio.currentTime;
      for (var i = 0; i < 3; i++) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = 'square';
        osc.frequency.value = i % 2 ? 660 : 880;
        gain.gain.value = 0.15;
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(t + i * 0.35);
        osc.stop(t + i * 0.35 + 0.25);
      }
      banner.dataset.sound = 'played';
      banner.dataset.beeps = String(Number(banner.dataset.beeps || 0) + 1);
      soundButton.hidden = true;
    };
    var blocked = function () {
      banner.dataset.sound = 'blocked';
      pendingSound = true;
      soundButton.hidden = false;
    };
    if (audio.state === 'running') { start(); return; }
    var resumed = audio.resume();
    /* Chromium keeps the promise pending while autoplay is blocked: decide soon. */
    var decided = false;
    resumed.then(function () { if (!decided) { decided = true; start(); } });
    window.setTimeout(function () {
      if (!decided && audio.state !== 'running') { decided = true; blocked(); }
    }, 300);
  }
  soundButton.addEventListener('click', function () {
    if (pendingSound) { pendingSound = false; beep(); }
  });

  /* ---- rendering ---- */
  function render() {
    var ids = Object.keys(alarms).map(Number).sort(function (a, b) { return b - a; });
    while (list.firstChild) { list.removeChild(list.firstChild); }
    ids.forEach(function (id) { list.appendChild(item(alarms[id])); });
    banner.hidden = ids.length === 0;
  }

  function item(a) {
    var li = el('li', 'alarm alarm-' + (a.severity === 'critical' ? 'critical' : 'major'));
    li.dataset.alarmId = String(Number(a.id));
    li.dataset.severity = a.severity === 'critical' ? 'critical' : 'major';
    li.appendChild(el('strong', 'alarm-severity', strings[a.severity] || a.severity));
    li.appendChild(el('span', 'alarm-system', a.system));
    li.appendChild(el('span', 'alarm-title', a.title));
    if (a.detail) { li.appendChild(el('span', 'alarm-detail', a.detail)); }
    if (a.repeat_count > 1) { li.appendChild(el('span', 'alarm-repeat', fmt(strings.repeated, {count: a.repeat_count}))); }
    li.appendChild(el('time', 'alarm-time', formatTime(a.received_at)));
    if (a.hotline_state === 'open' && extension) {
      li.appendChild(el('span', 'alarm-hotline', fmt(strings.hotline_open, {extension: extension})));
    }
    if (a.acknowledged_at) {
      li.classList.add('acknowledged');
      li.appendChild(el('span', 'alarm-acked', fmt(strings.acknowledged_by, {name: a.acknowledged_by})));
    }
    if (supervisor) { li.appendChild(actions(a)); }
    return li;
  }

  function actions(a) {
    var box = el('span', 'alarm-actions');
    var status = el('span', 'alarm-status');
    status.setAttribute('role', 'status');
    function act(path, body) {
      return post(base + Number(a.id) + path, body).then(function (res) {
        if (!res.ok) { status.textContent = fmt(strings.failed, {reason: (res.data && res.data.error) || ''}); }
        return res;
      });
    }
    if (!a.acknowledged_at) {
      var ack = el('button', 'btn alarm-ack', strings.acknowledge);
      ack.type = 'button';
      ack.addEventListener('click', function () { ack.disabled = true; act('/acknowledge'); });
      box.appendChild(ack);
    }
    if (a.hotline_state === 'open') {
      var number = el('input', 'alarm-contact-number');
      number.type = 'tel';
      number.maxLength = 32;
      number.value = a.contact_number || '';
      number.placeholder = strings.contact_placeholder || '';
      number.setAttribute('aria-label', strings.contact_placeholder || '');
      var call = el('button', 'btn alarm-call-contact', strings.call_contact);
      call.type = 'button';
      call.addEventListener('click', function () {
        act('/call-contact', {number: number.value}).then(function (res) {
          if (res.ok) { status.textContent = fmt(strings.contact_calling, {number: res.data.number}); }
        });
      });
      box.appendChild(number);
      box.appendChild(call);
    }
    var close = el('button', 'btn btn-ghost alarm-close', strings.close);
    close.type = 'button';
    close.addEventListener('click', function () { close.disabled = true; act('/close'); });
    box.appendChild(close);
    box.appendChild(status);
    return box;
  }

  function formatTime(value) {
    var d = value ? new Date(value) : null;
    if (!d || isNaN(d.getTime())) { return ''; }
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }

  function apply(msg) {
    var a = msg && msg.alarm;
    if (!a || a.id == null) { return; }
    if (!a.open || (a.severity !== 'major' && a.severity !== 'critical')) {
      delete alarms[a.id];
    } else {
      alarms[a.id] = a;
    }
    render();
    if (msg.event === 'raised') { beep(); }
  }

  (readJson('alarm-data') || []).forEach(function (a) { alarms[a.id] = a; });
  render();
  var socket = window.__happycallSocket;
  if (socket) {
    socket.on('alarm', apply);
    /* after a reconnect, read the open alarms again (changes may have been missed) */
    socket.on('connect', function () {
      fetch(base + 'open', {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          alarms = {};
          data.alarms.forEach(function (a) { alarms[a.id] = a; });
          render();
        }).catch(function () {});
    });
  }
  window.__happycallAlarms = {count: function () { return Object.keys(alarms).length; }};
}());
