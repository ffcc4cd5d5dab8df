package exampleserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func (ex *example) addResources() {
	ex.srv.AddResource(mcp.NewResource(WelcomeURI, "welcome",
		mcp.WithResourceDescription("A fixed greeting, always readable."),
		mcp.WithMIMEType("text/plain"),
	), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		// Fixed rather than read from the notebook: deleting the "welcome"
		// note (an approval test) must not break the resource tests.
		return []mcp.ResourceContents{mcp.TextResourceContents{
			URI: req.Params.URI, MIMEType: "text/plain", Text: WelcomeText,
		}}, nil
	})

	// mcp-go tries exact resources before templates, so note://welcome above
	// wins over this template.
	ex.srv.AddResourceTemplate(mcp.NewResourceTemplate(NoteURITemplate, "note",
		mcp.WithTemplateDescription("A note from the in-memory notebook, by id (see create_note, delete_note)."),
		mcp.WithTemplateMIMEType("text/plain"),
	), ex.readNote)
}

func (ex *example) readNote(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	id := templateVar(req.Params.Arguments, "id")
	if id == "" {
		return nil, fmt.Errorf("resource %q: no note id", req.Params.URI)
	}
	text, ok := ex.notes.get(id)
	if !ok {
		// mcp-go turns a handler error into -32603; only an unmatched URI
		// gets the resource-not-found code.
		return nil, fmt.Errorf("resource %q: %w", req.Params.URI, server.ErrResourceNotFound)
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{
		URI: req.Params.URI, MIMEType: "text/plain", Text: text,
	}}, nil
}

// templateVar reads a matched URI-template variable. mcp-go stores each as
// the []string of its uritemplate match; a plain string is accepted too in
// case a later version flattens it.
func templateVar(args map[string]any, name string) string {
	switch v := args[name].(type) {
	case string:
		return v
	case []string:
		if len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (ex *example) addPrompts() {
	ex.srv.AddPrompt(mcp.NewPrompt(PromptGreet,
		mcp.WithPromptDescription("Ask the model to greet someone by name."),
		mcp.WithArgument("name", mcp.RequiredArgument(), mcp.ArgumentDescription("Who to greet.")),
	), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		name := req.Params.Arguments["name"]
		if name == "" {
			return nil, errors.New("argument \"name\" is required")
		}
		return mcp.NewGetPromptResult("Greet "+name, []mcp.PromptMessage{
			mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("Say hello to "+name)),
		}), nil
	})
}
