package paper_test

import (
	"time"

	"github.com/quagmt/udecimal"

	"github.com/tradeplane/tradeplane/internal/venue"
)

var timeZero time.Time

func dec(s string) venue.Decimal { return udecimal.MustParse(s) }
