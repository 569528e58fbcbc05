/* multimodal-fer report: the interactive charts (plotly, offline). Each page holds its own data in
   <script type="application/json" id="mfer-data">; elements with data-chart="trend|timeline" get a chart.
   The charts show expressed emotion (what a face, a voice and words show), not inner state. */
(function () {
  'use strict';
  var COLOURS = ['#BBBBBB', '#E69F00', '#0072B2', '#D55E00', '#CC79A7', '#009E73', '#F0E442'];
  var STREAMS = ['face', 'voice', 'text'];

  function mmss(t) {
    var s = Math.round(t), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (r < 10 ? '0' : '') + r;
  }

  function escapeText(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function wrap(s, width) {  // hover labels do not wrap by themselves
    var out = [], line = '';
    escapeText(s).split(' ').forEach(function (w) {
      if (line && line.length + w.length + 1 > width) { out.push(line); line = w; }
      else { line = line ? line + ' ' + w : w; }
    });
    if (line) out.push(line);
    return out.join('<br>');
  }

  function top(block, i, emotions) {  // "sad 45% · neutral 30%" (the two most probable), or "–"
    var pairs = [];
    for (var j = 0; j < emotions.length; j++) if (block[j][i] >= 0) pairs.push([block[j][i], emotions[j]]);
    if (!pairs.length) return '–';
    pairs.sort(function (a, b) { return b[0] - a[0]; });
    return pairs.slice(0, 2).map(function (p) { return p[1] + ' ' + p[0] + '%'; }).join(' · ');
  }

  function drawn() {
    var h = document.documentElement;
    h.setAttribute('data-charts-drawn', String(Number(h.getAttribute('data-charts-drawn') || 0) + 1));
  }

  function draw(el, traces, layout, name) {
    var config = {displaylogo: false, responsive: true,
                  toImageButtonOptions: {format: 'png', filename: name, scale: 2}};
    return Plotly.newPlot(el, traces, layout, config).then(drawn);
  }

  function hoverTexts(d) {
    var texts = [], u = 0, utts = d.utterances;
    for (var i = 0; i < d.start.length; i++) {
      var mid = (d.start[i] + d.end[i]) / 2;
      while (u < utts.length && utts[u][1] <= mid) u++;
      var lines = ['<b>' + mmss(d.start[i]) + '–' + mmss(d.end[i]) + '</b> · signal: ' + d.signals[d.signal[i]],
                   '<b>fused</b>: ' + top(d.fused, i, d.emotions) +
                   (d.valence[i] === null ? '' : ' · valence ' + d.valence[i].toFixed(2))];
      STREAMS.forEach(function (s) { lines.push(s + ': ' + top(d[s], i, d.emotions)); });
      for (var k = u; k < utts.length && utts[k][0] <= mid; k++) {
        if (utts[k][1] > mid && utts[k][3]) lines.push('<i>' + utts[k][2] + '</i>: “' + wrap(utts[k][3], 70) + '”');
      }
      texts.push(lines.join('<br>'));
    }
    return texts;
  }

  function timeline(el, d) {
    var x = d.start.map(function (s, i) { return (s + d.end[i]) / 2; });
    var traces = d.emotions.map(function (e, j) {
      return {x: x, y: d.fused[j].map(function (v) { return v < 0 ? null : v; }), name: e, type: 'scatter',
              mode: 'lines', stackgroup: 'fused', stackgaps: 'infer zero', line: {width: 0, color: COLOURS[j]},
              fillcolor: COLOURS[j], hoverinfo: 'skip'};
    });
    traces.push({x: x, y: x.map(function () { return 50; }), text: hoverTexts(d), type: 'scatter', mode: 'markers',
                 marker: {opacity: 0, size: 4}, hovertemplate: '%{text}<extra></extra>', showlegend: false});
    traces.push({x: x, y: d.valence, yaxis: 'y2', type: 'scatter', mode: 'lines', name: 'valence',
                 line: {color: '#111', width: 1.2}, hovertemplate: 'valence %{y:.2f}<extra></extra>'});
    var shapes = d.bands.map(function (b) {
      return {type: 'rect', xref: 'x', yref: 'y2', x0: b[0], x1: b[1], y0: -1, y1: 1, fillcolor: '#CFE3FA',
              line: {width: 0}, layer: 'below'};
    });
    var notes = [];
    d.moments.forEach(function (m) {
      var colour = m[0] === 'negative' ? '#D55E00' : '#009E73';
      shapes.push({type: 'rect', xref: 'x', yref: 'y2', x0: m[2], x1: m[3], y0: -1, y1: 1, fillcolor: colour,
                   opacity: 0.3, line: {width: 0}});
      notes.push({x: m[2], y: 1, xref: 'x', yref: 'y2', text: m[0].slice(0, 3) + ' #' + m[1], showarrow: false,
                  font: {size: 9, color: colour}, yanchor: 'bottom', xanchor: 'left',
                  hovertext: m[6] ? wrap(m[6], 70) : 'no words'});
    });
    var layout = {height: 520, margin: {l: 60, r: 20, t: 20, b: 50}, hovermode: 'x', shapes: shapes, annotations: notes,
                  legend: {orientation: 'h', y: -0.12},
                  xaxis: {title: {text: 'time (s)'}, anchor: 'y2'},
                  yaxis: {domain: [0.4, 1], range: [0, 100], title: {text: 'fused expressed emotion (%)'}},
                  yaxis2: {domain: [0, 0.32], range: [-1, 1], title: {text: 'valence'}, zeroline: true}};
    return draw(el, traces, layout, el.id).then(function () {
      showHashTime(el, x);
      window.addEventListener('hashchange', function () { showHashTime(el, x); });
    });
  }

  function showHashTime(el, x) {  // session.html#t=SECONDS opens the hover label of the window nearest that time
    var m = /#t=([0-9.]+)/.exec(window.location.hash);
    if (!m || !x.length) return;
    var t = parseFloat(m[1]), best = x[0];
    x.forEach(function (v) { if (Math.abs(v - t) < Math.abs(best - t)) best = v; });
    Plotly.Fx.hover(el, {xval: best}, 'xy');
  }

  function trend(el, d) {
    var hover = d.index.map(function (n, i) {
      return '<b>' + escapeText(d.session[i]) + '</b> (#' + n + ', ' + (d.date[i] || 'no date') + ')<br>' +
        'valence ' + (d.valence[i] === null ? '–' : d.valence[i].toFixed(2)) +
        (d.change[i] === null ? '' : ' (' + (d.change[i] >= 0 ? '+' : '') + d.change[i].toFixed(2) + ' vs baseline)') +
        '<br>dominant: ' + (d.dominant[i] || '–') +
        '<br>speaking share ' + (d.speaking[i] === null ? '–' : Math.round(d.speaking[i] * 100) + '%') +
        (d.flags[i].length ? '<br><b>' + d.flags[i].join(', ').replace(/flag_|_/g, ' ') + '</b>' : '');
    });
    var flagged = d.index.filter(function (n, i) { return d.flags[i].length; });
    var traces = [
      {x: d.index, y: d.valence, text: hover, type: 'scatter', mode: 'lines+markers', name: 'valence',
       line: {color: '#111'}, hovertemplate: '%{text}<extra></extra>'},
      {x: d.index, y: d.rolling3, type: 'scatter', mode: 'lines', name: 'rolling mean (3)',
       line: {color: '#0072B2', dash: 'dash', width: 1}, hoverinfo: 'skip'},
      {x: flagged, y: flagged.map(function (n) { return d.valence[d.index.indexOf(n)]; }), type: 'scatter',
       mode: 'markers', name: 'change flag', marker: {size: 16, color: 'rgba(0,0,0,0)',
       line: {color: '#D55E00', width: 2}}, hoverinfo: 'skip'},
      {x: d.index, y: d.speaking, yaxis: 'y2', type: 'bar', name: 'speaking share', marker: {color: '#009E73'},
       hovertemplate: 'speaking share %{y:.0%}<extra></extra>'}
    ];
    var shapes = d.baseline === null ? [] : [{type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: d.baseline,
      y1: d.baseline, line: {color: '#E69F00', width: 1.5}}];
    var layout = {height: 440, margin: {l: 60, r: 20, t: 20, b: 50}, hovermode: 'closest', shapes: shapes,
                  legend: {orientation: 'h', y: -0.15},
                  annotations: d.baseline === null ? [] : [{xref: 'paper', x: 1, y: d.baseline, yref: 'y',
                    text: 'baseline', showarrow: false, xanchor: 'right', yanchor: 'bottom',
                    font: {size: 10, color: '#B07800'}}],
                  xaxis: {title: {text: 'session'}, tickvals: d.index, ticktext: d.session, anchor: 'y2'},
                  yaxis: {domain: [0.38, 1], range: [-1, 1], title: {text: 'valence'}},
                  yaxis2: {domain: [0, 0.28], range: [0, 1], title: {text: 'speaking'}, tickformat: '.0%'}};
    return draw(el, traces, layout, el.id).then(function () {
      el.on('plotly_click', function (ev) {
        var i = d.index.indexOf(ev.points[0].x);
        if (i >= 0 && d.links[i]) window.location.href = d.links[i];
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var node = document.getElementById('mfer-data');
    if (!node) return;
    var all = JSON.parse(node.textContent), kinds = {trend: trend, timeline: timeline};
    document.querySelectorAll('[data-chart]').forEach(function (el) {
      kinds[el.dataset.chart](el, all[el.dataset.chart]);
    });
  });
})();
