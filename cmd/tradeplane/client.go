package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message + " (" + e.Error.Code + ")"
		}
		err := fmt.Errorf("server answered %d: %s", resp.StatusCode, msg)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusConflict {
			return usageError{err}
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}
