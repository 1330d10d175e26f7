// Served from the service itself (no CDN): the one OpenAPI document at /openapi.json.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  docExpansion: "list",
  validatorUrl: null,  // Swagger UI would otherwise fetch a badge from an outside validator
});
