/* Agent desktop: state buttons with the not-ready reason, the wrap-up countdown,
 * queue log-in, screen-pops (with the customer's sensitivity codes and suggested
 * codes for roles that may see them), the code table and the abandoned-call list. */
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

  var reasonSelect = document.getElementById('not-ready-reason');
  var timerEl = document.getElementById('agent-state-timer');
  var countdown = null;
  var deadline = 0;

  /* Wrap-up: count down from the seconds the server gave, on the browser's own clock. */
  function tick() {
    var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    timerEl.dataset.remaining = String(left);
    HC.setText(timerEl, (strings.wrap_up_left || '{time}').replace('{time}', HC.formatDuration(left)));
  }

  function startCountdown(seconds) {
    deadline = Date.now() + Math.max(0, Number(seconds) || 0) * 1000;
    tick();
    timerEl.hidden = false;
    if (!countdown) { countdown = window.setInterval(tick, 500); }
  }

  function stopCountdown() {
    if (countdown) { window.clearInterval(countdown); countdown = null; }
    timerEl.hidden = true;
    timerEl.dataset.remaining = '';
    HC.setText(timerEl, '');
  }

  function hasReasonOption(code) {
    return !!code && !!reasonSelect && !!reasonSelect.querySelector('option[value="' + CSS.escape(code) + '"]');
  }

  /* data: optional {remaining_seconds} of a wrap-up. */
  function showState(state, reason, data) {
    stateEl.dataset.state = state;
    HC.setText(stateEl, strings.states[state] || state);
    reason = state === 'not_ready' ? (reason || '') : '';
    reasonEl.dataset.reason = reason;
    HC.setText(reasonEl, reason ? (strings.reasons[reason] || reason) : '');
    if (hasReasonOption(reason)) { reasonSelect.value = reason; }
    document.body.dataset.agentState = state;
    if (state !== 'wrap_up') {
      stopCountdown();
    } else if (data && data.remaining_seconds !== undefined && data.remaining_seconds !== null) {
      startCountdown(data.remaining_seconds);
    }
  }

  function requestState(target, reason) {
    showError('');
    var body = {state: target};
    if (target === 'not_ready') { body.reason = reason || 'other'; }
    HC.postJson(stateUrl, body).then(function (result) {
      if (result.status === 401) {
        window.location.reload();   /* the session ended: back to the login page */
        return;
      }
      if (result.ok) {
        showState(result.data.state, result.data.reason, result.data);
      } else {
        showError(result.data.error || strings.request_failed);
        if (result.data.state && result.data.state !== stateEl.dataset.state) {
          showState(result.data.state, '');
        }
      }
    }).catch(function () { showError(strings.request_failed); });
  }

  document.getElementById('btn-ready').addEventListener('click', function () { requestState('ready'); });
  document.getElementById('btn-not-ready').addEventListener('click', function () {
    requestState('not_ready', reasonSelect ? reasonSelect.value : 'other');
  });
  if (reasonSelect) {
    /* Already not ready: a new reason applies at once. */
    reasonSelect.addEventListener('change', function () {
      if (stateEl.dataset.state === 'not_ready') { requestState('not_ready', reasonSelect.value); }
    });
  }
  if (timerEl && timerEl.dataset.remaining !== '' && stateEl.dataset.state === 'wrap_up') {
    startCountdown(Number(timerEl.dataset.remaining));
  }

  /* ---- queue log-in ------------------------------------------------------------------- */
  var queuesPanel = document.getElementById('queues-panel');
  var queuesStatus = document.getElementById('queues-status');

  function queueBoxes() {
    return queuesPanel ? queuesPanel.querySelectorAll('input[type="checkbox"][data-queue]') : [];
  }

  function showQueues(names) {
    var on = {};
    for (var i = 0; i < names.length; i++) { on[names[i]] = true; }
    var boxes = queueBoxes();
    for (var j = 0; j < boxes.length; j++) { boxes[j].checked = !!on[boxes[j].dataset.queue]; }
  }

  function showQueuesStatus(text, isError) {
    HC.setText(queuesStatus, text || '');
    queuesStatus.dataset.error = isError ? 'true' : 'false';
    queuesStatus.hidden = !text;
  }

  function saveQueues(changed) {
    var boxes = queueBoxes();
    var names = [];
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].checked) { names.push(boxes[i].dataset.queue); }
    }
    showQueuesStatus('');
    HC.postJson(queuesPanel.dataset.url, {queues: names}).then(function (result) {
      if (result.status === 401) { window.location.reload(); return; }
      if (result.data.queues) {
        showQueues(result.data.queues.filter(function (q) { return q.logged_in; })
          .map(function (q) { return q.name; }));
      } else if (!result.ok) {
        changed.checked = !changed.checked;
      }
      if (result.ok) {
        showQueuesStatus(strings.queues_saved);
      } else {
        showQueuesStatus(result.data.error || strings.request_failed, true);
      }
    }).catch(function () {
      changed.checked = !changed.checked;
      showQueuesStatus(strings.request_failed, true);
    });
  }

  var boxes = queueBoxes();
  for (var qi = 0; qi < boxes.length; qi++) {
    boxes[qi].addEventListener('change', function (event) { saveQueues(event.target); });
  }

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
    var wrapper = popTemplate.content.firstElementChild.cloneNode(true);
    var card = wrapper.querySelector('.screenpop');
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
      wrapper.dataset.ticketId = String(ticketId);
    }
    card.dataset.channelId = String(pop.channel_id || '');
    /* Tickets from e-mail, the portal or one-stop requests pop like calls (docs/intake.md). */
    card.dataset.channel = String(pop.channel || 'phone');
    if (pop.subject) {
      var subjectEl = card.querySelector('[data-field="subject"]');
      HC.setText(subjectEl, pop.subject);
      subjectEl.hidden = false;
    }
    var previous = pops.querySelectorAll('.screenpop.latest');
    for (var i = 0; i < previous.length; i++) { previous[i].classList.remove('latest'); }
    card.classList.add('latest');
    if (pop.type === 'survey_reply' && pop.survey) { addSurvey(wrapper, pop.survey); }
    if (pop.sensitivity && SENS && Number.isInteger(ticketId)) {
      addSensitivity(wrapper, pop.sensitivity, ticketId);
    }
    pops.insertBefore(wrapper, pops.firstChild);
    while (pops.children.length > MAX_POPS) { pops.removeChild(pops.lastChild); }
    popsEmpty.hidden = true;
    if (Number.isInteger(ticketId)) { setCodesTarget(ticketId, pop.incident_id); }
  }

  /* ---- the survey a reply-line caller is about (docs/surveys.md) --------------------------
   * Every value here came from the customer or the records: text nodes only. */
  function node(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function yesNo(value) {
    if (value === true) { return strings.survey.yes; }
    if (value === false) { return strings.survey.no; }
    return strings.survey.none;
  }

  function termLabel(term) {
    return term ? (strings.survey.terms[term] || term) : strings.survey.none;
  }

  function surveyRow(list, field, label, value) {
    var row = node('div');
    row.dataset.field = field;
    row.appendChild(node('dt', null, label));
    row.appendChild(node('dd', null, value));
    list.appendChild(row);
  }

  function addSurvey(wrapper, survey) {
    var t = strings.survey;
    var block = node('section', 'pop-survey');
    block.dataset.block = 'survey';
    var heading = node('h3', null, t.title + ' — ');
    var surveyed = parseInt(survey.ticket_id, 10);
    var incident = node(Number.isInteger(surveyed) ? 'a' : 'span', 'pop-survey-ticket', survey.incident_id || '');
    if (Number.isInteger(surveyed)) {   /* the service surveyed: its ticket opens in a new tab */
      incident.href = ticketBase + surveyed;
      incident.target = '_blank';
      incident.rel = 'noopener';
    }
    heading.appendChild(incident);
    block.appendChild(heading);
    var about = node('dl', 'pop-survey-service');
    if (survey.service) { surveyRow(about, 'service', t.service, survey.service); }
    if (survey.resolution) { surveyRow(about, 'resolution', t.resolution, survey.resolution); }
    if (survey.centre) { surveyRow(about, 'centre', t.centre, survey.centre); }
    block.appendChild(about);
    var answers = node('dl', 'pop-survey-answers');
    surveyRow(answers, 'rating', t.q_rating,
              survey.rating === null || survey.rating === undefined ? t.none : String(survey.rating) + ' / 5');
    surveyRow(answers, 'trouble_again', t.q_trouble, yesNo(survey.trouble_again));
    surveyRow(answers, 'staff_kind', t.q_kind, yesNo(survey.staff_kind));
    surveyRow(answers, 'comment', t.q_comment, survey.comment || t.none);
    surveyRow(answers, 'term', t.term, termLabel(survey.term));
    if (survey.keywords && survey.keywords.length) {
      surveyRow(answers, 'keywords', t.keywords, survey.keywords.join(', '));
    }
    block.appendChild(answers);
    var replies = survey.replies || [];
    block.appendChild(node('h4', null, t.replies));
    if (!replies.length) {
      block.appendChild(node('p', 'empty pop-survey-no-replies', t.no_replies));
    } else {
      var list = node('ol', 'pop-survey-replies');
      for (var i = 0; i < replies.length; i++) {
        var r = replies[i] || {};
        var item = node('li');
        item.dataset.channel = String(r.channel || '');
        item.appendChild(node('span', 'reply-channel', t.channels[r.channel] || r.channel || ''));
        item.appendChild(node('span', 'reply-term', termLabel(r.term)));
        var keyed = [];
        if (r.rating !== undefined && r.rating !== null) { keyed.push(t.rating + ' ' + r.rating + '/5'); }
        if (typeof r.trouble_again === 'boolean') { keyed.push(t.trouble_short + ' ' + yesNo(r.trouble_again)); }
        if (typeof r.staff_kind === 'boolean') { keyed.push(t.kind_short + ' ' + yesNo(r.staff_kind)); }
        if (keyed.length) { item.appendChild(node('span', 'reply-keys', keyed.join(' · '))); }
        if (r.text) { item.appendChild(node('q', 'reply-text', r.text)); }
        list.appendChild(item);
      }
      block.appendChild(list);
    }
    wrapper.appendChild(block);
  }

  /* ---- customer sensitivity (only on pops of roles that may see codes) ---------------- */
  var SENS = window.HappyCallSensitivity;
  var decideBase = root.dataset.decideBase;
  var codesTarget = null;

  function popWrapper(ticketId) {
    return pops.querySelector('.pop-card[data-ticket-id="' + Number(ticketId) + '"]');
  }

  function showCallCodes(wrapper, codes) {
    if (!wrapper) { return; }
    var box = wrapper.querySelector('.pop-call-codes');
    if (!box) { return; }
    SENS.renderKnacks(box.querySelector('ol'), codes, {meta: true});
    box.hidden = !codes.length;
  }

  function addSensitivity(wrapper, data, ticketId) {
    var block = SENS.el('section', 'pop-sensitivity');
    block.dataset.block = 'sensitivity';
    var codes = data.codes || [];
    var last = SENS.el('div', 'pop-last-codes');
    last.appendChild(SENS.el('h3', null, SENS.strings.last_codes));
    if (codes.length) {
      var list = SENS.el('ol', 'knacks pop-codes');
      SENS.renderKnacks(list, codes, {});
      last.appendChild(list);
    } else {
      last.appendChild(SENS.el('p', 'empty pop-no-codes', SENS.strings.no_codes));
    }
    block.appendChild(last);
    var analysis = SENS.el('div', 'pop-analysis');
    block.appendChild(analysis);
    renderPopAnalysis(wrapper, analysis, data.analysis, ticketId);
    var callCodes = SENS.el('div', 'pop-call-codes');
    callCodes.appendChild(SENS.el('h3', null, SENS.strings.call_codes));
    callCodes.appendChild(SENS.el('ol', 'knacks'));
    callCodes.hidden = true;
    block.appendChild(callCodes);
    wrapper.appendChild(block);
  }

  function renderPopAnalysis(wrapper, container, analysis, ticketId) {
    SENS.renderAnalysis(container, analysis, {
      decideBase: decideBase,
      onDecided: function (data) { showCallCodes(popWrapper(ticketId) || wrapper, data.codes || []); }
    });
  }

  /* The desktop's code table saves to the ticket of the latest call. */
  var picker = SENS ? SENS.initPicker(document.getElementById('code-picker')) : null;
  var codesForm = document.getElementById('codes-form');
  var saveButton = document.getElementById('btn-save-codes');
  var targetText = document.getElementById('codes-target');
  var codesStatus = document.getElementById('codes-status');

  function setCodesTarget(ticketId, incident) {
    if (!picker) { return; }
    codesTarget = {ticketId: ticketId, incident: incident || ('#' + ticketId)};
    saveButton.disabled = false;
    saveButton.dataset.ticketId = String(ticketId);
    HC.setText(saveButton, SENS.format(SENS.strings.save_to, {incident: codesTarget.incident}));
    HC.setText(targetText, '');
  }

  if (picker && codesForm) {
    codesForm.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!codesTarget) { HC.setText(codesStatus, SENS.strings.no_target); return; }
      var codes = picker.selected();
      if (!codes.length) { codesStatus.dataset.error = 'true'; HC.setText(codesStatus, SENS.strings.select_first); return; }
      var target = codesTarget;
      SENS.saveCodes(ticketBase + target.ticketId + '/sensitivity', codes).then(function (data) {
        codesStatus.dataset.error = 'false';
        HC.setText(codesStatus, target.incident + ': ' + SENS.savedMessage(data));
        showCallCodes(popWrapper(target.ticketId), data.codes || []);
        picker.clear();
      }).catch(function (err) {
        codesStatus.dataset.error = 'true';
        HC.setText(codesStatus, err.message);
      });
    });
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
    showState(data.state, data.reason, data);
    if (data.queues) { showQueues(data.queues); }   /* changed in another tab */
  });
  socket.on('sensitivity_analysis', function (data) {
    /* an analysis stored after the pop went out */
    var wrapper = popWrapper(data.ticket_id);
    if (!SENS || !wrapper || !data.sensitivity) { return; }
    var container = wrapper.querySelector('.pop-analysis');
    if (container) { renderPopAnalysis(wrapper, container, data.sensitivity.analysis, Number(data.ticket_id)); }
  });
  socket.on('ticket_updated', function (data) {
    var card = pops.querySelector('.screenpop[data-ticket-id="' + Number(data.ticket_id) + '"]');
    if (card) {
      card.dataset.status = data.status;
      field(card, 'status', strings.statuses[data.status] || data.status);
    }
  });
  if (window.HappyCallCallbacks) { window.HappyCallCallbacks.init(socket, strings); }
}());
