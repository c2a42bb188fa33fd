/* Agent desktop: survey notices for the centre's person in charge (a dissatisfied
 * survey reply).  Stored unread notices are on the page already; new ones come on
 * the socket (event survey_dissatisfied) and are built the same way.  "Mark as
 * read" posts to /notices/<id>/read and removes the item.  Text only, never HTML. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var list = document.getElementById('survey-notices');
  var root = document.getElementById('desktop');
  if (!HC || !list || !root) { return; }
  var empty = document.getElementById('survey-notices-empty');
  var count = document.getElementById('survey-notices-count');
  var error = document.getElementById('survey-notices-error');
  var strings = HC.readJson('survey-notice-strings');
  var ticketBase = root.dataset.ticketBase;
  var readUrl = list.dataset.readUrl;
  var MAX = 50;

  function refresh() {
    var n = list.querySelectorAll('li.notice').length;
    count.textContent = String(n);
    empty.hidden = n > 0;
  }

  function span(cls, text) {
    var el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function summary(data) {
    var parts = [strings.dissatisfied];
    if (data.rating) { parts.push(strings.rating + ' ' + Number(data.rating) + '/5'); }
    if (data.channel) { parts.push(strings.channels[data.channel] || String(data.channel)); }
    if (data.centre) { parts.push(String(data.centre)); }
    return ' ' + parts.join(' · ');
  }

  function build(data) {
    var li = document.createElement('li');
    li.className = 'notice notice-dissatisfied';
    li.dataset.kind = 'survey_dissatisfied';
    li.dataset.noticeId = String(Number(data.notice_id));
    li.dataset.ticketId = String(Number(data.ticket_id));
    var link = document.createElement('a');
    link.className = 'notice-ticket';
    link.href = ticketBase + Number(data.ticket_id);
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = data.incident_id || ('#' + Number(data.ticket_id));
    var when = document.createElement('time');
    when.className = 'notice-time';
    when.dateTime = String(data.at || '');
    when.textContent = HC.formatTime(data.at);
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn btn-small notice-read';
    button.textContent = strings.mark_read;
    li.appendChild(link);
    li.appendChild(span('notice-text', summary(data)));
    li.appendChild(when);
    li.appendChild(span('notice-reason notice-words', String(data.text || '')));
    li.appendChild(button);
    return li;
  }

  function markRead(li) {
    var id = Number(li.dataset.noticeId);
    if (!Number.isInteger(id) || id <= 0) { return; }
    error.hidden = true;
    function failed() {
      error.textContent = strings.read_failed;
      error.hidden = false;
    }
    HC.postJson(readUrl.replace('/0/', '/' + id + '/'), {}).then(function (result) {
      if (!result.ok) { failed(); return; }
      if (li.parentNode) { li.parentNode.removeChild(li); }
      refresh();
    }).catch(failed);
  }

  list.addEventListener('click', function (event) {
    var button = event.target.closest('button.notice-read');
    if (button) { markRead(button.closest('li.notice')); }
  });

  var socket = window.__happycallSocket;
  if (socket) {
    socket.on('survey_dissatisfied', function (data) {
      if (!data || !Number.isInteger(Number(data.notice_id)) || !data.notice_id) { return; }
      if (list.querySelector('li[data-notice-id="' + Number(data.notice_id) + '"]')) { return; }
      list.insertBefore(build(data), list.firstChild);
      while (list.querySelectorAll('li.notice').length > MAX) { list.removeChild(list.lastElementChild); }
      refresh();
    });
  }
  refresh();
}());
