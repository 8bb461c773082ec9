package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/auth"
	"github.com/tradeplane/tradeplane/internal/secrets"
	"github.com/tradeplane/tradeplane/internal/store"
	"github.com/tradeplane/tradeplane/internal/store/storetest"
)

// TestAllocationRuleHoldsAcrossNodes creates share-allocated sessions
// through two nodes on one PostgreSQL database at once: on each of 16
// accounts, 6 creations of 50% (3 per node), all 96 in flight together.
// The rule holds across nodes (the check and the insert are one
// transaction with the account locked), so exactly 2 are created per
// account and its stored shares total 100%; the rest are refused with a
// 400. A process-local lock let both nodes take an account's last share.
func TestAllocationRuleHoldsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const accounts, perNode = 16, 3
	var accts []*store.Account
	for i := range accounts {
		a := &store.Account{Name: fmt.Sprintf("acct-%d", i), Venue: "paper"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	// Two processes, as two machines: a lock inside one process (the old
	// rule's mutex) is shared by two nodes started in one test process.
	key := make([]byte, secrets.KeySize)
	rand.Read(key)
	var urls []string
	for _, id := range []string{"alloc-a", "alloc-b"} {
		urls = append(urls, startProc(t, childConfig{DBURL: dbURL, NodeID: id, MasterKey: hex.EncodeToString(key)}).url)
	}
	token, _, err := auth.CreateToken(ctx, db, auth.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := make(chan struct{})
	for _, a := range accts {
		for i := range 2 * perNode {
			url := urls[i%2]
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("%s-%d", a.Name, i), "strategy": "dca", "account": a.Name,
				"symbols":         []string{"ETHUSDT"},
				"params":          map[string]string{"symbol": "ETHUSDT", "quote_amount": "25", "interval": "1m"},
				"allocation_kind": "share", "allocation": "0.5"})
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", url+"/api/v1/sessions", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				<-start
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 && (resp.StatusCode != 400 || !strings.Contains(string(data), "over 100%")) {
					t.Errorf("create: %d %s, want 201 or a 400 naming the rule", resp.StatusCode, data)
				}
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}()
		}
	}
	close(start)
	wg.Wait()
	for _, a := range accts {
		list, err := db.Sessions(ctx, store.SessionFilter{AccountID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		total := udecimal.Zero
		for _, s := range list {
			total = total.Add(s.Allocation)
		}
		if len(list) != 2 || !total.Equal(udecimal.MustParse("1")) {
			t.Errorf("account %s: %d sessions stored with shares totalling %s; want 2 and 100%%", a.Name, len(list), total)
		}
	}
	if codes[201] != 2*accounts || codes[400] != accounts*(2*perNode-2) {
		t.Fatalf("created %d, refused %d; want %d and %d", codes[201], codes[400], 2*accounts, accounts*(2*perNode-2))
	}
}
