/* Lesion Lens: when the session ends (sign-out elsewhere, idle timeout, password reset), Dash's
   requests get 401 {"login": "/login"}; send the browser to the sign-in page instead of leaving
   a page whose callbacks silently fail. CSRF needs no script: Dash's renderer copies the
   ll_csrf cookie into the X-CSRFToken header itself (dash.Dash(csrf_token_name="ll_csrf")). */
(function () {
  if (!window.fetch || window.__llSessionWatch) { return; }
  window.__llSessionWatch = true;
  var originalFetch = window.fetch;
  window.fetch = function (input, init) {
    return originalFetch.apply(this, arguments).then(function (response) {
      var url = typeof input === "string" ? input : (input && input.url) || "";
      if (response.status === 401 && !window.__llSigningIn &&
          /\/_dash-(update-component|layout|dependencies)/.test(url)) {
        window.__llSigningIn = true;  // several callbacks fail at once: navigate once
        var next = window.location.pathname + window.location.search;
        window.location.assign("/login?next=" + encodeURIComponent(next));
      }
      return response;
    });
  };
})();
