package venue

import "context"

// SendGuard is asked, after a signed request has been stamped with its
// timestamp and before it leaves, whether it may still be sent. A venue
// refuses a request that arrives later than its timestamp plus its receive
// window (Binance's recvWindow), so a guard that passes at that moment
// bounds when the venue can still accept the request: no later than the
// timestamp plus the window. The journal's guard checks the session's lease:
// a node frozen anywhere before the guard sends nothing once its lease has
// run out, and a node frozen after it has a request the venue refuses once
// the window has passed.
//
// A guard's error means the request was not sent; the adapter returns it as
// a *Error of ClassUnavailable (certainly not executed).
type SendGuard func(ctx context.Context) error

type sendGuardKey struct{}

// WithSendGuard returns ctx carrying g for the venue adapter to call.
func WithSendGuard(ctx context.Context, g SendGuard) context.Context {
	return context.WithValue(ctx, sendGuardKey{}, g)
}

// CheckSend runs the SendGuard ctx carries, if any.
func CheckSend(ctx context.Context) error {
	if g, ok := ctx.Value(sendGuardKey{}).(SendGuard); ok && g != nil {
		return g(ctx)
	}
	return nil
}
