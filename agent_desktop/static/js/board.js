/* Wallboard and dashboard: shared helpers.  Data is only ever set with
 * textContent / setAttribute (queue titles and names may contain anything). */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var offsetMs = 0;          /* server clock - browser clock */
  var lastServerMs = -Infinity;

  /* Remember the server's clock from a payload; false if the payload is older
   * than one already shown (a push and a join answer may cross). */
  function acceptServerTime(iso) {
    var ms = Date.parse(iso);
    if (isNaN(ms)) { return true; }
    if (ms < lastServerMs) { return false; }
    lastServerMs = ms;
    offsetMs = ms - Date.now();
    return true;
  }

  function serverNow() { return Date.now() + offsetMs; }

  /* 75 -> "1:15", 3725 -> "1:02:05" */
  function formatDuration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var r = s % 60;
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    return h ? h + ':' + two(m) + ':' + two(r) : m + ':' + two(r);
  }

  /* Seconds since an ISO time, on the server's clock (null without a time). */
  function secondsSince(iso) {
    if (!iso) { return null; }
    var ms = Date.parse(iso);
    return isNaN(ms) ? null : Math.max(0, (serverNow() - ms) / 1000);
  }

  function formatShare(share) {
    return share === null || share === undefined ? '—' : Math.round(share * 100) + '%';
  }

  /* The wall clock in the floor's time zone, ticking every second. */
  function startClock(el, timeZone, lang) {
    if (!el) { return; }
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat(lang === 'ko' ? 'ko-KR' : 'en-GB', {
        timeZone: timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
    } catch (e) {
      fmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit'});
    }
    function tick() { HC.setText(el, fmt.format(new Date(serverNow()))); }
    tick();
    return window.setInterval(tick, 1000);
  }

  /* Socket.IO with the status line; joins the wallboard room on every (re)connect. */
  function connect(strings, onWallboard) {
    var socket = HC.connect(strings);
    window.__happycallSocket = socket;   /* the alarm banner (alarms.js) listens on it too */
    socket.on('connect', function () { socket.emit('wallboard_join', {}); });
    socket.on('wallboard', onWallboard);
    return socket;
  }

  function svg(name, attrs, text) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (key) { el.setAttribute(key, String(attrs[key])); });
    if (text !== undefined) { el.textContent = String(text); }
    return el;
  }

  function siteLabel(site, strings) {
    if (site.code === 'unspecified') { return strings.unspecified; }
    return site.name || site.code;
  }

  window.HappyCallBoard = {acceptServerTime: acceptServerTime, serverNow: serverNow, formatDuration: formatDuration,
                           secondsSince: secondsSince, formatShare: formatShare, startClock: startClock,
                           connect: connect, svg: svg, siteLabel: siteLabel};
}());
