/* Lesion Lens: let dcc.Graph use plotly.js's "cartesian" partial bundle (1.5 MB: scatter, bar,
   heatmap, image, histogram, ...) instead of the full 4.8 MB one. Registered from Python by
   dashboard/figures/plotlyjs.py, which checks the bundle's version against plotly.py's.

   dcc.Graph loads plotly.js lazily, from window._dashPlotlyJSURL, which Dash's renderer sets after
   start-up; this script runs before the renderer and pins that URL to the partial bundle beside it,
   so pages without graphs load no plotly.js and pages with graphs evaluate a third of it. On pages
   that always show graphs the bundle is also preloaded (downloaded, not run: running it this early
   would hold up the renderer's own start).

   The same goes for the component chunks Dash loads only when a page renders (the graph, slider,
   table, dropdown, ... code): each page's own are preloaded here (CHUNKS, as measured on each page's
   first load), so they are in the browser's cache by the time the page's layout is rendered instead
   of being asked for one round trip later (issue 14.4). A chunk missing here costs that round trip;
   one named but not used costs a download and a console note. */
(function () {
  var me = document.currentScript;
  if (!me || !me.src || window.__llPlotlyPartial) { return; }
  // same folder and fingerprint as this file: .../vendor/plotly-loader.v4_1_1m123.js -> plotly-cartesian...
  var url = me.src.replace(/plotly-loader(\.v[^/.]+)?\.js(\?.*)?$/, "plotly-cartesian$1.min.js");
  if (url === me.src) { return; }
  window.__llPlotlyPartial = url;
  try {
    Object.defineProperty(window, "_dashPlotlyJSURL", {
      configurable: true,
      enumerable: true,
      get: function () { return url; },
      set: function () { /* the renderer's default (the full bundle) is ignored */ }
    });
  } catch (e) { return; /* leave Dash's default in place */ }
  function preload(href) {
    var hint = document.createElement("link");
    hint.rel = "preload";
    hint.as = "script";
    hint.href = href;
    document.head.appendChild(hint);
  }
  var path = window.location.pathname;
  if (/^\/(metrics|case)(\/|$)/.test(path)) { preload(url); }
  var CHUNKS = {
    "metrics": ["dcc/async-graph.js", "dcc/async-slider.js", "dash_table/async-table.js",
                "dash_table/async-highlight.js"],
    "case": ["dcc/async-graph.js", "dcc/async-slider.js", "dcc/async-dropdown.js"],
    "cohort": ["dash_table/async-table.js", "dash_table/async-highlight.js", "dcc/async-slider.js",
               "dcc/async-dropdown.js", "dcc/async-datepicker.js"],
    "": ["dcc/async-upload.js"]
  };
  // .../_dash-component-suites/dashboard.figures/vendor/plotly-loader... -> .../_dash-component-suites/dash/
  var suites = me.src.replace(/dashboard\.figures\/vendor\/[^/]*$/, "dash/");
  var chunks = suites === me.src ? null : CHUNKS[path.split("/")[1] || ""];
  for (var i = 0; chunks && i < chunks.length; i++) { preload(suites + chunks[i]); }
})();
