package binance

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/adshao/go-binance/v2/common"

	"github.com/tradeplane/tradeplane/internal/venue"
)

func isDial(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// classify maps anything go-binance, the transport or the network returned to
// a venue error. write is true for requests that change state (place,
// cancel): for those, any doubt about delivery is an unknown outcome, while
// for reads it is merely unavailable.
func classify(op string, write bool, err error) *venue.Error {
	e := classifyRaw(op, write, err)
	e.Message = Redact(e.Message)
	return e
}

func classifyRaw(op string, write bool, err error) *venue.Error {
	doubt := venue.ClassUnavailable
	if write {
		doubt = venue.ClassUnknown
	}
	var ve *venue.Error
	if errors.As(err, &ve) {
		out := *ve
		if out.Op == "" {
			out.Op = op
		}
		return &out
	}
	var se *statusError
	if errors.As(err, &se) {
		return &venue.Error{Class: doubt, Code: se.code, Message: se.msg, Op: op}
	}
	var ae *common.APIError
	if errors.As(err, &ae) {
		return fromCode(op, doubt, int(ae.Code), ae.Message)
	}
	var send *sendError
	if errors.As(err, &send) {
		// err, not send.err: net/http's error names the request (its URL;
		// classify redacts the signed query).
		if send.dial {
			return &venue.Error{Class: venue.ClassUnavailable, Message: "not sent: " + err.Error(), Op: op}
		}
		return &venue.Error{Class: doubt, Message: err.Error(), Op: op}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &venue.Error{Class: doubt, Message: err.Error(), Op: op}
	}
	// A 2xx answer we could not decode, or anything else: the request may
	// well have executed.
	return &venue.Error{Class: doubt, Message: err.Error(), Op: op}
}

// fromCode maps Binance error codes to classes.
func fromCode(op string, doubt venue.Class, code int, msg string) *venue.Error {
	e := &venue.Error{Class: venue.ClassRejected, Code: code, Message: msg, Op: op}
	lower := strings.ToLower(msg)
	switch {
	case code == -1003 || code == -1015:
		e.Class = venue.ClassRateLimited
	case code == -2010 && strings.Contains(lower, "duplicate"):
		e.Class = venue.ClassDuplicate
	case code == -2010 && strings.Contains(lower, "insufficient"):
		e.Class = venue.ClassInsufficientFunds
	case code == -4116: // USDⓈ-M futures: "ClientOrderId is duplicated."
		e.Class = venue.ClassDuplicate
	case code == -2019: // USDⓈ-M futures: "Margin is insufficient."
		e.Class = venue.ClassInsufficientFunds
	case code == -2011 || code == -2013:
		e.Class = venue.ClassNotFound
	case code == -1021:
		e.Class = venue.ClassTimestamp
	case code == -1022 || code == -2014 || code == -2015 || code == -1002:
		e.Class = venue.ClassAuth
	case code == -1007 || code == -1000 || code == -1001 || code == -1006 || code == -1008:
		e.Class = doubt
	}
	return e
}
