package bybit

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tradeplane/tradeplane/internal/venue"
)

// Bybit v5 return codes the adapter branches on (docs/v5/error).
const (
	codeServerTimeout     = 10000  // Server Timeout
	codeParams            = 10001  // Request parameter error
	codeTimestamp         = 10002  // The request time exceeds the time window range
	codeInvalidKey        = 10003  // API key is invalid
	codeSign              = 10004  // Error sign
	codePermission        = 10005  // Permission denied
	codeRateLimited       = 10006  // Too many visits. Exceeded the API Rate Limit
	codeAuthFailed        = 10007  // User authentication failed
	codeIPBanned          = 10009  // IP has been banned
	codeUnmatchedIP       = 10010  // Unmatched IP
	codeServerError       = 10016  // Server error
	codeIPRateLimited     = 10018  // Exceeded the IP Rate Limit
	codeOrderNotExists    = 110001 // (derivatives) Order does not exist
	codeInsufficientDeriv = 110007 // (derivatives) Insufficient available balance
	codeDupLinkIDDeriv    = 110072 // (derivatives) OrderLinkedID is duplicate
	codeNotionalDeriv     = 110094 // (derivatives) Order notional value below the lower limit
	codeInsufficientSpot  = 170131 // (spot) Insufficient balance
	codeDupLinkIDSpot     = 170141 // (spot) Duplicate clientOrderId
	codeOrderNotExistSpot = 170213 // (spot) Order does not exist
	codeKeyExpiredSpot    = -2015  // (spot) Your api key has expired
	codeKeyExpiredDeriv   = 33004  // (derivatives) Your api key has expired
)

// classify maps an error of a call to the venue taxonomy. write says
// whether the request could have changed state (an order), which decides
// whether an ambiguous failure is ClassUnknown (never resend) or
// ClassUnavailable (certainly not executed, retry later).
func classify(op string, write bool, err error, now time.Time) *venue.Error {
	var ve *venue.Error
	if errors.As(err, &ve) {
		return ve
	}
	var ban *errBanned
	if errors.As(err, &ban) {
		// Refused before sending: nothing executed.
		return &venue.Error{Class: venue.ClassBanned, Op: op, Message: "IP banned by Bybit (HTTP 403)", Until: ban.until}
	}
	if errors.Is(err, context.Canceled) && !write {
		return &venue.Error{Class: venue.ClassUnavailable, Op: op, Message: err.Error()}
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		// A timeout, a reset connection, a body we could not read: the
		// request may have arrived.
		c := venue.ClassUnknown
		if !write {
			c = venue.ClassUnavailable
		}
		return &venue.Error{Class: c, Op: op, Message: err.Error()}
	}
	e := &venue.Error{Code: ae.RetCode, Message: ae.RetMsg, Op: op}
	switch {
	case ae.Status == http.StatusForbidden || ae.RetCode == codeIPRateLimited || ae.RetCode == codeIPBanned:
		e.Class, e.Until = venue.ClassBanned, now.Add(ipBan)
	case ae.RetCode == codeRateLimited || ae.Status == http.StatusTooManyRequests:
		e.Class = venue.ClassRateLimited
		e.RetryAfter = time.Second
		if !ae.ResetAt.IsZero() && ae.ResetAt.After(now) {
			e.RetryAfter = ae.ResetAt.Sub(now)
		}
	case ae.Status == http.StatusUnauthorized:
		e.Class = venue.ClassAuth
	case ae.Status >= 500 || ae.RetCode == codeServerTimeout || ae.RetCode == codeServerError:
		e.Class = venue.ClassUnavailable
		if write {
			e.Class = venue.ClassUnknown
		}
	case ae.Status != http.StatusOK:
		e.Class = venue.ClassInvalid
	default:
		switch ae.RetCode {
		case codeTimestamp:
			e.Class = venue.ClassTimestamp
		case codeInvalidKey, codeSign, codePermission, codeAuthFailed, codeUnmatchedIP, codeKeyExpiredSpot, codeKeyExpiredDeriv:
			e.Class = venue.ClassAuth
		case codeInsufficientSpot, codeInsufficientDeriv:
			e.Class = venue.ClassInsufficientFunds
		case codeDupLinkIDSpot, codeDupLinkIDDeriv:
			e.Class = venue.ClassDuplicate
		case codeOrderNotExists, codeOrderNotExistSpot:
			e.Class = venue.ClassNotFound
		case codeParams:
			e.Class = venue.ClassInvalid
		default:
			// 1701xx (spot) and 1100xx/1300xx (derivatives) are order rules:
			// tick, step, minimum quantity and value.
			e.Class = venue.ClassRejected
		}
	}
	return e
}
