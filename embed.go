// Package mcphub holds files the binaries embed from the repository root.
package mcphub

import _ "embed"

// OpenAPI is the REST API's OpenAPI document (openapi.yaml).
//
//go:embed openapi.yaml
var OpenAPI []byte
