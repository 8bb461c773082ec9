// Command check validates compose files offline with compose-go, the loader
// Docker Compose itself uses: each file is parsed, interpolated, checked
// against the Compose Specification's JSON schema (an unknown or misspelt
// key, a wrong type fails) and for consistency (depends_on, volumes and
// networks that exist). The variables a file requires (${X:?...}) are set to
// placeholders. It is its own module so the main module does not depend on
// compose-go.
//
//	cd deploy/compose/check && go run . ../single.yaml ../cluster.yaml
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

// placeholders stand in for the secrets the compose files require from the
// environment.
var placeholders = []string{"TRADEPLANE_MASTER_KEY=check", "POSTGRES_PASSWORD=check", "TRADEPLANE_HEARTBEAT_URL="}

func checkFile(ctx context.Context, path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv(placeholders),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	names := p.ServiceNames()
	sort.Strings(names)
	return names, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check COMPOSE.yaml ...")
		os.Exit(2)
	}
	failed := false
	for _, p := range os.Args[1:] {
		services, err := checkFile(context.Background(), p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", p, err)
			failed = true
			continue
		}
		fmt.Printf("ok   %s (services %v)\n", p, services)
	}
	if failed {
		os.Exit(1)
	}
}
