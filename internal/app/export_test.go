package app

import "github.com/tradeplane/tradeplane/internal/venue/paper"

// PaperOf is the node's simulated exchange, for tests that fund accounts.
func PaperOf(a *App) *paper.Exchange { return a.paper }
