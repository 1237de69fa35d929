package httpapi

import (
	_ "embed"
)

// OpenAPI is the OpenAPI 3.1 description of the HTTP API, served at
// /openapi.json. A test fails when a registered route is missing from it.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) openapi(c *Ctx) error {
	c.Response.Header.Set("Cache-Control", "public, max-age=300")
	c.SetContentType("application/json")
	c.SetBody(OpenAPI)
	return nil
}
