// The API's documentation page: Swagger UI (served by the plugin, no CDN) on openapi.json.
// "Try it out" runs as the logged-in user; POSTs carry the page's CSRF token.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    requestInterceptor: function (request) {
      request.headers["X-CSRFToken"] = root.dataset.csrf;
      return request;
    }
  });
}());
