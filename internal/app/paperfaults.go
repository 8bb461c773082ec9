package app

import "github.com/tradeplane/tradeplane/internal/venue/paper"

// PaperFaults returns the fault injector of the paper exchange account
// called name (creating the account empty if it does not exist), so a test
// can make the node's own venue fail — a scripted rejection, a ban, a
// timeout — and watch the real path from the executor through the journal
// and alerts to the dashboard. It is a test hook: nothing in the node calls
// it, and accounts on other venues have no injector.
func (a *App) PaperFaults(name string) *paper.Faults {
	return a.paper.Account(name).Faults()
}

// PaperAccount returns the paper exchange account called name (created
// empty if it does not exist), so a test can act at the venue behind the
// node's back — an order the journal never saw, for the journal audit to
// find. Like PaperFaults it is a test hook: nothing in the node calls it.
func (a *App) PaperAccount(name string) *paper.Account {
	return a.paper.Account(name)
}
