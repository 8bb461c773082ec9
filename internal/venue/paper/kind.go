package paper

import (
	"fmt"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Name is the paper venue's name in the venue registry.
const Name = "paper"

func init() {
	venue.Register(venue.Kind{Name: Name, Description: "the built-in simulated exchange, in the serving process",
		InProcess: true, Trades: true, Positions: true, Open: open})
}

// open opens account a on the process's exchange: env.Shared("paper") is
// its *Exchange.
func open(env venue.Env, a venue.Account) (venue.Venue, error) {
	ex, _ := env.Value(Name).(*Exchange)
	if ex == nil {
		return nil, fmt.Errorf("account %q: no paper exchange in this process", a.Name)
	}
	return ex.Account(a.Name), nil
}
