package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeAlertWebhookReceivesAlert starts serve with --alert-webhook and
// an account whose venue cannot be reached: the alert that raises reaches
// the webhook.
func TestServeAlertWebhookReceivesAlert(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && json.Unmarshal(body, &a) == nil {
			mu.Lock()
			got = append(got, a)
			mu.Unlock()
		}
	}))
	defer hook.Close()

	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "serve.db")
	keyFile := filepath.Join(dir, "master.key")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on: opening the account fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	cli(t, "", "--db", db, "--master-key-file", keyFile, "accounts", "add", "--name", "gone", "--venue", "binance",
		"--base-url", dead, "--api-key", "k", "--api-secret-file", secretFile).want(t, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- execCLI(ctx, "", &out, &errb, "--db", db, "--master-key-file", keyFile, "serve", "--addr", "127.0.0.1:0",
			"--alert-webhook", hook.URL+"/alerts?key=abc")
	}()
	deadline := time.After(20 * time.Second)
	for {
		mu.Lock()
		var found map[string]any
		for _, a := range got {
			if a["source"] == "venue" && strings.Contains(a["message"].(string), "gone") {
				found = a
			}
		}
		mu.Unlock()
		if found != nil {
			if found["severity"] == "" || found["id"] == nil {
				t.Errorf("webhook got %v, want an alert with its severity and id", found)
			}
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before an alert reached the webhook\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		case <-deadline:
			t.Fatalf("no alert reached the webhook\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after its context ended, want 0\nstderr:\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), "key=abc") {
		t.Errorf("the webhook URL (which may hold a secret) was logged:\n%s", errb.String())
	}
}

// TestServeAlertFlagsBadInput: bad alert flags exit 2 with one line that
// says what to do, and never show the bot token.
func TestServeAlertFlagsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := "123456:AAE-secret_token"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notToken := filepath.Join(dir, "not-token")
	if err := os.WriteFile(notToken, []byte("hello world\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--db", "sqlite:" + filepath.Join(dir, "x.db"), "--master-key-file", filepath.Join(dir, "key"),
		"serve", "--addr", "127.0.0.1:0"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--alert-webhook", "ftp://hooks.example.com/x"}, "--alert-webhook #1 (host hooks.example.com): want an http:// or https:// URL"},
		{[]string{"--alert-webhook", "https://ok.example.com/a", "--alert-webhook", "not a url"}, "--alert-webhook #2: want an http"},
		{[]string{"--alert-telegram-token-file", filepath.Join(dir, "missing"), "--alert-telegram-chat", "42"}, "cannot read"},
		{[]string{"--alert-telegram-token-file", notToken, "--alert-telegram-chat", "42"}, "does not hold a bot token"},
		{[]string{"--alert-telegram-chat", "42"}, "needs a bot token: give --alert-telegram-token-file"},
		{[]string{"--alert-telegram-token-file", tokenFile}, "give --alert-telegram-chat"},
		{[]string{"--alert-telegram-token-file", tokenFile, "--alert-telegram-chat", "my chat"}, "want a chat id"},
	} {
		r := cli(t, "", append(append([]string(nil), base...), tc.args...)...).want(t, 2)
		if !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line containing %q", tc.args, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, token) || strings.Contains(r.stderr, "secret_token") {
			t.Errorf("%v: the bot token was shown: %q", tc.args, r.stderr)
		}
	}
}

// TestServeAlertSinksFromFlagsAndEnv: the flags and TRADEPLANE_* variables
// map onto app.Config's sinks; the token comes from its file or from
// TRADEPLANE_ALERT_TELEGRAM_TOKEN. (Not parallel: it sets the environment.)
func TestServeAlertSinksFromFlagsAndEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("111:file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) alertOptions {
		t.Helper()
		cmd := newServeCmd(&globals{})
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		f := cmd.Flags()
		hooks, _ := f.GetStringArray("alert-webhook")
		tf, _ := f.GetString("alert-telegram-token-file")
		chat, _ := f.GetString("alert-telegram-chat")
		return alertOptions{webhooks: hooks, telegramTokenFile: tf, telegramChat: chat}
	}

	hooks, tg, err := alertSinks(parse("--alert-webhook", "https://a.example.com/x,y", "--alert-webhook", "http://b.example.com",
		"--alert-telegram-token-file", tokenFile, "--alert-telegram-chat", "-1001234"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 2 || hooks[0].URL != "https://a.example.com/x,y" || hooks[1].URL != "http://b.example.com" || hooks[0].Name != "webhook a.example.com" {
		t.Errorf("webhooks from flags: %+v", hooks)
	}
	if tg == nil || tg.BotToken != "111:file-token" || tg.ChatID != "-1001234" {
		t.Errorf("telegram from flags: %+v", tg)
	}

	t.Setenv("TRADEPLANE_ALERT_WEBHOOK", "https://c.example.com/1 https://d.example.com/2")
	t.Setenv("TRADEPLANE_ALERT_TELEGRAM_TOKEN", "222:env-token")
	t.Setenv("TRADEPLANE_ALERT_TELEGRAM_CHAT", "@desk_alerts")
	hooks, tg, err = alertSinks(parse())
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 2 || hooks[0].URL != "https://c.example.com/1" || hooks[1].URL != "https://d.example.com/2" {
		t.Errorf("webhooks from env: %+v", hooks)
	}
	if tg == nil || tg.BotToken != "222:env-token" || tg.ChatID != "@desk_alerts" {
		t.Errorf("telegram from env: %+v", tg)
	}
	// A token file, from its flag or TRADEPLANE_ALERT_TELEGRAM_TOKEN_FILE, wins over the token variable.
	t.Setenv("TRADEPLANE_ALERT_TELEGRAM_TOKEN_FILE", tokenFile)
	if _, tg, err = alertSinks(parse()); err != nil || tg == nil || tg.BotToken != "111:file-token" {
		t.Errorf("token file from env: %+v, %v", tg, err)
	}
}
