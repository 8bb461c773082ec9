package app

import (
	"context"

	"github.com/tradeplane/tradeplane/internal/venue/paper"
)

// PaperOf is the node's simulated exchange, for tests that fund accounts.
func PaperOf(a *App) *paper.Exchange { return a.paper }

// GoService runs fn as one of the node's supervising loops, under ctx.
func GoService(a *App, ctx context.Context, name string, fn func()) { a.goService(ctx, name, fn) }
