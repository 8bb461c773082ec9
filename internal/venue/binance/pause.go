package binance

import "time"

// PauseCause says why Binance stopped taking this IP's requests to a host.
type PauseCause string

const (
	// PauseBanned is an IP ban: HTTP 418 (code -1003), sent to an IP that
	// kept sending after a 429. It ends at Until (Retry-After); nothing can
	// lift it sooner.
	PauseBanned PauseCause = "banned"
	// PauseWAF is a block by Binance's web application firewall: HTTP 403
	// ("the WAF Limit has been violated", rest-api.md HTTP Return Codes),
	// for the IP or for the request itself. Binance says nothing of how
	// long; the host is paused until Until (Retry-After, else 5 minutes).
	PauseWAF PauseCause = "waf"
)

// Pause is one stop of every request to a host: what Config.OnBan is told.
type Pause struct {
	Cause  PauseCause
	Status int       // the HTTP status: 418 or 403
	Host   string    // the host paused, e.g. api.binance.com
	Until  time.Time // no request goes to Host before this
	// Message is Binance's text (the 418's msg, the 403's body when it had
	// a JSON msg), redacted: no signature, key or signed query.
	Message string
}
