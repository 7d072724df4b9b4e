/* Lesion Lens: let dcc.Graph use plotly.js's "cartesian" partial bundle (1.5 MB: scatter, bar,
   heatmap, image, histogram, ...) instead of the full 4.8 MB one. Registered from Python by
   dashboard/figures/plotlyjs.py, which checks the bundle's version against plotly.py's.

   dcc.Graph loads plotly.js lazily, from window._dashPlotlyJSURL, which Dash's renderer sets after
   start-up; this script runs before the renderer and pins that URL to the partial bundle beside it,
   so pages without graphs load no plotly.js and pages with graphs evaluate a third of it. On pages
   that always show graphs the bundle is also preloaded (downloaded, not run: running it this early
   would hold up the renderer's own start). */
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
  if (/^\/(metrics|case)(\/|$)/.test(window.location.pathname)) {
    var hint = document.createElement("link");
    hint.rel = "preload";
    hint.as = "script";
    hint.href = url;
    document.head.appendChild(hint);
  }
})();
