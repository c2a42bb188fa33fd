/* Ticket screen, escalation panel: the live first-level counter (from the seconds
 * the server gave, on the browser's own clock) and the person list of the chosen
 * support group.  No data is ever set as HTML. */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var elapsedEl = document.getElementById('first-level-elapsed');
  var limitEl = document.getElementById('first-level-limit');

  if (limitEl) { HC.setText(limitEl, HC.formatDuration(Number(limitEl.dataset.seconds) || 0)); }

  if (elapsedEl && elapsedEl.dataset.elapsed !== '') {
    var base = Number(elapsedEl.dataset.elapsed) || 0;
    var loaded = Date.now();
    var running = elapsedEl.dataset.running === 'true';
    var show = function () {
      var seconds = base + (running ? (Date.now() - loaded) / 1000 : 0);
      elapsedEl.dataset.seconds = String(Math.floor(seconds));
      HC.setText(elapsedEl, HC.formatDuration(seconds));
    };
    show();
    if (running) { window.setInterval(show, 1000); }
  }

  /* Escalate form: only the members of the chosen group may be picked. */
  var group = document.getElementById('esc-group');
  var person = document.getElementById('esc-person');
  function filterPeople() {
    if (!group || !person) { return; }
    var options = person.querySelectorAll('option[data-group]');
    for (var i = 0; i < options.length; i++) {
      var visible = options[i].dataset.group === group.value;
      options[i].hidden = !visible;
      options[i].disabled = !visible;
      if (!visible && options[i].selected) { person.value = ''; }
    }
  }
  if (group) {
    group.addEventListener('change', filterPeople);
    filterPeople();
  }
}());
