// The gateway's /docs: starts Swagger UI on the platform's merged OpenAPI document.
// A file of our own rather than Swagger UI's inline initialiser: the page's Content-Security-Policy
// runs script files from the gateway only, never inline script (gateway/docs.py).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis],
  // Swagger UI would otherwise send the document's address to validator.swagger.io for a badge.
  validatorUrl: null,
  oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect",
});
