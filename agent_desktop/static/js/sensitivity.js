/* Customer sensitivity on the desktop pages: the searchable code table with the
 * knacks of the selected codes, recorded codes, and speech-analysis suggestions
 * with one-click Accept / Reject.  All data comes from the page's JSON blocks
 * (#sensitivity-table, #sensitivity-strings) or from the server's JSON answers;
 * text is only ever set with textContent (transcripts and customer words are
 * attacker-controlled). */
(function () {
  'use strict';
  var HC = window.HappyCall;
  var strings = HC.readJson('sensitivity-strings');
  var lang = strings.lang || document.documentElement.lang || 'ko';
  var tableList = HC.readJson('sensitivity-table');
  var table = {};
  if (Array.isArray(tableList)) {
    tableList.forEach(function (entry) { table[entry.code] = entry; });
  }

  function str(name) { return strings[name] || ''; }

  /* "speech analysis unavailable: {reason}" + {reason: "..."} */
  function format(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text != null) { node.textContent = String(text); }
    return node;
  }

  /* A text of an entry in the page's language (entries carry *_ko and *_en). */
  function pick(entry, base) {
    var value = entry[base + '_' + lang];
    return value != null && value !== '' ? value : (entry[base] || '');
  }

  function chip(code, kind) {
    var node = el('span', 'code-chip', code);
    node.dataset.kind = kind || '';
    return node;
  }

  function captioned(className, caption, text) {
    var p = el('p', className);
    p.appendChild(el('span', 'knack-caption', caption));
    p.appendChild(document.createTextNode(' ' + text));
    return p;
  }

  /* One code with its knacks.  opts.technician: also the technician's knacks;
   * opts.meta: who recorded it and when. */
  function knackItem(entry, opts) {
    opts = opts || {};
    var li = el('li', 'knack');
    li.dataset.code = entry.code;
    li.dataset.kind = entry.kind || '';
    if (entry.version != null) { li.dataset.version = String(entry.version); }
    var head = el('div', 'knack-head');
    head.appendChild(chip(entry.code, entry.kind));
    head.appendChild(el('span', 'knack-label', pick(entry, 'label')));
    head.appendChild(el('span', 'kind-name', (strings.kinds || {})[entry.kind] || entry.kind || ''));
    li.appendChild(head);
    li.appendChild(captioned('knack-primary', str('primary'), pick(entry, 'knack_primary')));
    li.appendChild(captioned('knack-aux', str('auxiliary'), pick(entry, 'knack_auxiliary')));
    if (opts.technician && pick(entry, 'technician_primary')) {
      var details = el('details', 'knack-tech');
      details.appendChild(el('summary', null, str('technician')));
      details.appendChild(el('p', 'knack-primary', pick(entry, 'technician_primary')));
      details.appendChild(el('p', 'knack-aux', pick(entry, 'technician_auxiliary')));
      li.appendChild(details);
    }
    if (opts.meta && entry.source) {
      var meta = [entry.source_label || (strings.sources || {})[entry.source] || entry.source];
      if (entry.recorded_by_name) { meta.push(entry.recorded_by_name); }
      if (entry.at) { meta.push(HC.formatTime(entry.at)); }
      li.appendChild(el('p', 'knack-meta', meta.join(' · ')));
    }
    return li;
  }

  function renderKnacks(list, entries, opts) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    (entries || []).forEach(function (entry) { list.appendChild(knackItem(entry, opts)); });
  }

  /* ---- the code table -------------------------------------------------------------- */
  function initPicker(root) {
    if (!root) { return null; }
    var search = root.querySelector('[data-picker-search]');
    var options = Array.prototype.slice.call(root.querySelectorAll('.code-option'));
    var groups = Array.prototype.slice.call(root.querySelectorAll('.code-group'));
    var list = root.querySelector('[data-knacks]');
    var empty = root.querySelector('[data-knacks-empty]');
    var count = root.querySelector('[data-picker-count]');
    var noMatch = root.querySelector('[data-picker-nomatch]');
    var technician = (root.dataset.audiences || '').indexOf('technician') >= 0;

    function selected() {
      return options.filter(function (o) { return o.querySelector('input').checked; })
        .map(function (o) { return o.dataset.code; });
    }

    function update() {
      var codes = selected();
      options.forEach(function (o) { o.classList.toggle('selected', codes.indexOf(o.dataset.code) >= 0); });
      var entries = codes.map(function (c) { return table[c]; }).filter(Boolean);
      renderKnacks(list, entries, {technician: technician});
      empty.hidden = entries.length > 0;
      HC.setText(count, codes.length ? format(str('selected_count'), {count: codes.length}) : '');
    }

    function filter() {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      options.forEach(function (o) {
        var hay = (o.dataset.search || '').toLowerCase();
        var match = terms.every(function (t) { return hay.indexOf(t) >= 0; });
        o.hidden = !match;
        if (match) { shown += 1; }
      });
      groups.forEach(function (g) { g.hidden = !g.querySelector('.code-option:not([hidden])'); });
      noMatch.hidden = shown > 0;
    }

    root.addEventListener('change', update);
    search.addEventListener('input', filter);
    search.addEventListener('keydown', function (event) {
      if (event.key === 'Enter') { event.preventDefault(); }   /* searching does not submit */
    });
    update();
    filter();
    return {
      root: root,
      selected: selected,
      update: update,
      clear: function () {
        options.forEach(function (o) { o.querySelector('input').checked = false; });
        update();
      }
    };
  }

  /* ---- speech analysis and suggestions ------------------------------------------------ */
  var UNITS = [['_hz', 'Hz'], ['_db', 'dB'], ['_pct', '%'], ['_percent', '%'], ['_ms', 'ms'], ['_s', 's'],
               ['_wps', 'words/s']];

  function figureName(path) {
    var parts = path.split('.');
    var figures = strings.figures || {};
    var first = parts[0];
    var rest = parts.slice(1).join(' ');
    var unit = '';
    for (var i = 0; i < UNITS.length; i++) {
      var suffix = UNITS[i][0];
      if (rest && rest.slice(-suffix.length) === suffix) {
        unit = UNITS[i][1]; rest = rest.slice(0, -suffix.length); break;
      }
      if (!rest && first.slice(-suffix.length) === suffix) {
        unit = UNITS[i][1]; first = first.slice(0, -suffix.length); break;
      }
    }
    var text = ((figures[first] || first.replace(/_/g, ' ')) + ' ' + rest.replace(/_/g, ' ')).trim();
    return unit ? text + ' (' + unit + ')' : text;
  }

  function figures(evidence) {
    var out = [];
    function walk(prefix, value) {
      if (value === null || value === undefined) { return; }
      if (Array.isArray(value)) {
        out.push([figureName(prefix), value.slice(0, 12).join(', ')]);
      } else if (typeof value === 'object') {
        Object.keys(value).forEach(function (key) { walk(prefix ? prefix + '.' + key : key, value[key]); });
      } else if (typeof value === 'number') {
        out.push([figureName(prefix), String(Math.round(value * 1000) / 1000)]);
      } else {
        out.push([figureName(prefix), String(value).slice(0, 200)]);
      }
    }
    Object.keys(evidence || {}).forEach(function (key) {
      if (key !== 'words') { walk(key, evidence[key]); }
    });
    return out;
  }

  function seconds(value) { return (Math.round(Number(value) * 10) / 10).toFixed(1); }

  function evidenceNode(evidence) {
    if (!evidence || typeof evidence !== 'object') { return null; }
    var box = el('div', 'evidence');
    var words = Array.isArray(evidence.words) ? evidence.words : [];
    if (words.length) {
      var p = el('p', 'ev-words');
      p.appendChild(el('span', 'knack-caption', str('words_heard')));
      words.slice(0, 50).forEach(function (w) {
        if (!w || w.word == null) { return; }
        var span = el('span', 'ev-word', '\u201c' + w.word + '\u201d');
        if (w.start != null) {
          span.appendChild(document.createTextNode(' '));
          span.appendChild(el('small', null, seconds(w.start) + '\u2013' + seconds(w.end != null ? w.end : w.start) + ' s'));
        }
        p.appendChild(span);
      });
      box.appendChild(p);
    }
    var figs = figures(evidence);
    if (figs.length) {
      var f = el('p', 'ev-figures');
      f.appendChild(el('span', 'knack-caption', str('figures_heading')));
      figs.forEach(function (pair) { f.appendChild(el('span', 'ev-figure', pair[0] + ': ' + pair[1])); });
      box.appendChild(f);
    }
    return box.childNodes.length ? box : null;
  }

  function statusText(suggestion) {
    var text = (strings.suggestion_statuses || {})[suggestion.status] || suggestion.status;
    return suggestion.decided_by_name ? text + ' · ' + suggestion.decided_by_name : text;
  }

  /* POST the decision; resolves to the server's answer {suggestion, codes}. */
  function decide(url, accept) {
    return HC.postJson(url, {accept: accept}).then(function (result) {
      if (result.status === 401) { window.location.reload(); }
      if (!result.ok) { throw new Error(result.data.error || str('request_failed')); }
      return result.data;
    });
  }

  function showDecided(item, suggestion) {
    item.dataset.status = suggestion.status;
    var actions = item.querySelector('.sugg-actions');
    var status = el('p', 'sugg-status', statusText(suggestion));
    status.dataset.status = suggestion.status;
    if (actions) { item.replaceChild(status, actions); }
    var error = item.querySelector('.sugg-error');
    if (error) { item.removeChild(error); }
  }

  function showItemError(item, message) {
    var error = item.querySelector('.sugg-error');
    if (!error) { error = el('p', 'sugg-error error'); error.setAttribute('role', 'alert'); item.appendChild(error); }
    HC.setText(error, message);
  }

  /* Wire Accept / Reject buttons inside item (one click each). */
  function wireDecision(item, url, onDecided) {
    var buttons = item.querySelectorAll('[data-decision]');
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener('click', function (event) {
        event.preventDefault();
        event.stopPropagation();
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
        decide(url, button.dataset.decision === 'accept').then(function (data) {
          showDecided(item, data.suggestion);
          if (onDecided) { onDecided(data); }
        }).catch(function (err) {
          Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
          showItemError(item, err.message || str('request_failed'));
        });
      });
    });
  }

  /* The analysis of a pop (or of a late analysis event) into container. */
  function renderAnalysis(container, analysis, opts) {
    opts = opts || {};
    while (container.firstChild) { container.removeChild(container.firstChild); }
    if (!analysis) { container.hidden = true; return; }
    container.hidden = false;
    container.dataset.status = analysis.status;
    if (analysis.status !== 'ok') {
      var failed = el('p', 'analysis-failed', format(str('analysis_unavailable'), {reason: analysis.reason || '—'}));
      failed.dataset.analysisFailed = '';
      container.appendChild(failed);
      return;
    }
    container.appendChild(el('h3', null, str('suggestions')));
    if (analysis.transcript) {
      var t = el('p', 'transcript');
      t.appendChild(el('span', 'knack-caption', str('heard')));
      t.appendChild(document.createTextNode(' '));
      var q = el('q', null, analysis.transcript);
      q.dataset.transcript = '';
      t.appendChild(q);
      container.appendChild(t);
    }
    var suggestions = analysis.suggestions || [];
    if (!suggestions.length) {
      container.appendChild(el('p', 'empty', str('no_suggestions')));
      return;
    }
    var list = el('ol', 'suggestions');
    suggestions.forEach(function (s) {
      var item = el('li', 'suggestion');
      item.dataset.suggestionId = String(s.id);
      item.dataset.code = s.code;
      item.dataset.status = s.status;
      var head = el('div', 'sugg-head');
      head.appendChild(chip(s.code, s.kind));
      head.appendChild(el('span', 'sugg-label', pick(s, 'label')));
      var score = el('span', 'sugg-score', Math.round(Number(s.score) * 100) + '%');
      score.title = str('score');
      head.appendChild(score);
      item.appendChild(head);
      var ev = evidenceNode(s.evidence);
      if (ev) { item.appendChild(ev); }
      if (s.status === 'suggested') {
        var actions = el('div', 'sugg-actions');
        var accept = el('button', 'btn btn-accept', str('accept'));
        accept.type = 'button';
        accept.dataset.decision = 'accept';
        var reject = el('button', 'btn btn-reject', str('reject'));
        reject.type = 'button';
        reject.dataset.decision = 'reject';
        actions.appendChild(accept);
        actions.appendChild(reject);
        item.appendChild(actions);
        wireDecision(item, opts.decideBase + Number(s.id), opts.onDecided);
      } else {
        var status = el('p', 'sugg-status', statusText(s));
        status.dataset.status = s.status;
        item.appendChild(status);
      }
      list.appendChild(item);
    });
    container.appendChild(list);
  }

  /* POST the selected codes to a ticket; resolves to {added, already, codes}. */
  function saveCodes(url, codes) {
    return HC.postJson(url, {codes: codes}).then(function (result) {
      if (result.status === 401) { window.location.reload(); }
      if (!result.ok) { throw new Error(result.data.error || str('request_failed')); }
      return result.data;
    });
  }

  function savedMessage(data) {
    var parts = [];
    if (data.added && data.added.length) { parts.push(format(str('saved'), {codes: data.added.join(', ')})); }
    if (data.already && data.already.length) { parts.push(format(str('already'), {codes: data.already.join(', ')})); }
    return parts.join(' ');
  }

  /* ---- the ticket screen --------------------------------------------------------------- */
  function initTicketPage(section) {
    var picker = initPicker(document.getElementById('code-picker'));
    var form = document.getElementById('codes-form');
    var status = document.getElementById('codes-status');
    var codesList = document.getElementById('ticket-codes');
    var codesEmpty = document.getElementById('ticket-codes-empty');
    var decideBase = section.dataset.decideBase;

    function showCodes(codes) {
      renderKnacks(codesList, codes, {technician: true, meta: true});
      codesEmpty.hidden = codes.length > 0;
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var codes = picker.selected();
      if (!codes.length) { HC.setText(status, str('select_first')); status.dataset.error = 'true'; return; }
      saveCodes(section.dataset.codesUrl, codes).then(function (data) {
        showCodes(data.codes);
        status.dataset.error = 'false';
        HC.setText(status, savedMessage(data));
        picker.clear();
      }).catch(function (err) {
        status.dataset.error = 'true';
        HC.setText(status, err.message);
      });
    });

    var items = section.querySelectorAll('.suggestion[data-status="suggested"]');
    Array.prototype.forEach.call(items, function (item) {
      wireDecision(item, decideBase + Number(item.dataset.suggestionId), function (data) { showCodes(data.codes); });
    });
  }

  window.HappyCallSensitivity = {
    strings: strings, lang: lang, table: table, format: format, knackItem: knackItem, renderKnacks: renderKnacks,
    initPicker: initPicker, renderAnalysis: renderAnalysis, saveCodes: saveCodes, savedMessage: savedMessage,
    el: el
  };

  var ticketSection = document.getElementById('sensitivity');
  if (ticketSection && ticketSection.dataset.codesUrl) {
    initTicketPage(ticketSection);
  } else if (document.querySelector('form[data-consultation]')) {
    initPicker(document.getElementById('code-picker'));
  }
}());
