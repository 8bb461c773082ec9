package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tradeplane/tradeplane/internal/apperr"
)

// apiClient is shared by the commands that talk to a running server.
var apiClient = &http.Client{Timeout: 30 * time.Second}

func apiGet(cmd *cobra.Command, g *globals, path string, out any) error {
	return apiDo(cmd, g, http.MethodGet, path, nil, out)
}

// apiDo calls the server's API and decodes the JSON answer into out. An API
// error becomes a one-line error; 4xx answers count as bad input (exit 2).
func apiDo(cmd *cobra.Command, g *globals, method, path string, body, out any) error {
	return apiDoHeaders(cmd, g, method, path, nil, body, out)
}

func apiDoHeaders(cmd *cobra.Command, g *globals, method, path string, headers map[string]string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(cmd.Context(), method, strings.TrimRight(g.server, "/")+path, rd)
	if err != nil {
		return usagef("--server %q: %v", g.server, err)
	}
	if g.token == "" {
		return usagef("--server needs an API token: set TRADEPLANE_TOKEN or --token (create one with 'tradeplane tokens create --role trader')")
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach server %s: %v (is 'tradeplane serve' running?)", g.server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		return apiError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// apiError is the server's error answer as a coded error (internal/apperr),
// so its exit code comes from apperr's table like a local error's. An
// answer without the API's error shape (a proxy's page) is coded by its
// status: a 4xx but 409 is the caller's to fix (exit 2).
func apiError(status int, data []byte) error {
	var e struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(data))
	code := apperr.Internal
	switch {
	case json.Unmarshal(data, &e) == nil && e.Error.Code != "":
		code = apperr.Code(e.Error.Code)
		msg = e.Error.Message + " (" + e.Error.Code + ")"
	case status == http.StatusConflict:
		code = apperr.Conflict
	case status < 500:
		code = apperr.Invalid
	}
	return &apperr.Error{Code: code, Message: fmt.Sprintf("server answered %d: %s", status, msg), Details: e.Error.Details}
}

// allPages reads every page of the list at GET path with q: the items under
// key, 1,000 a page, following next_cursor.
func allPages[T any](cmd *cobra.Command, g *globals, path, key string, q url.Values) ([]T, error) {
	var all []T
	q.Set("limit", "1000")
	for {
		var page map[string]json.RawMessage
		if err := apiGet(cmd, g, path+"?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		var items []T
		var next string
		if err := json.Unmarshal(page[key], &items); err != nil {
			return nil, fmt.Errorf("decode the %s of %s: %w", key, path, err)
		}
		if raw := page["next_cursor"]; len(raw) > 0 {
			if err := json.Unmarshal(raw, &next); err != nil {
				return nil, fmt.Errorf("decode the next cursor of %s: %w", path, err)
			}
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		q.Set("cursor", next)
	}
}
