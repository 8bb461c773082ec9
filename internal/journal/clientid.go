package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var literalSession = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// ClientOrderID derives the client order id of the n-th order of trade step
// step of a session. It is deterministic (a restarted step reuses its ids, so
// the venue refuses a second order) and always matches
// venue.ClientOrderIDPattern:
//
//   - "<session>-<step base36>-<n base36>" when the session id is made of
//     [a-zA-Z0-9_-], starts with a letter or digit and the whole fits in 36;
//   - otherwise "_<16 hex of sha256(session)>-<step>-<n>" when that fits;
//   - otherwise "_" followed by 35 hex of sha256(session, step, n).
//
// The forms cannot collide with each other: only the hashed forms start with
// "_", and the last two fields are always step and n. Negative step or n are
// treated as their absolute values' hash form to stay within the pattern.
func ClientOrderID(sessionID string, step int64, n int) string {
	if step < 0 || n < 0 {
		return fullHash(sessionID, step, n)
	}
	suffix := "-" + strconv.FormatInt(step, 36) + "-" + strconv.FormatInt(int64(n), 36)
	if literalSession.MatchString(sessionID) && len(sessionID)+len(suffix) <= 36 {
		return sessionID + suffix
	}
	h := sha256.Sum256([]byte(sessionID))
	prefix := "_" + hex.EncodeToString(h[:])[:16]
	if len(prefix)+len(suffix) <= 36 {
		return prefix + suffix
	}
	return fullHash(sessionID, step, n)
}

func fullHash(sessionID string, step int64, n int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", sessionID, step, n))
	return "_" + hex.EncodeToString(h[:])[:35]
}

// TradeAllOrderID is the n-th order id (from 0) of attempt k (from 0) of a
// Trade All step named ref (tradeall.StepKey.Ref, 13 characters): "<ref>-<n>"
// for the first attempt, "<ref>-r<k>-<n>" after. A step run again after
// its earlier attempts certainly never executed (the node died before
// sending) takes ids of its own, so no id is ever sent twice; every id of
// the step starts with TradeAllPrefix(ref), so the journal tells what a
// step sent.
func TradeAllOrderID(ref string, attempt, n int) string {
	if attempt == 0 {
		return ref + "-" + strconv.Itoa(n)
	}
	return ref + "-r" + strconv.Itoa(attempt) + "-" + strconv.Itoa(n)
}

// TradeAllPrefix is the prefix of every order id of Trade All step ref.
func TradeAllPrefix(ref string) string { return ref + "-" }

// TradeAllRef parses the step ref out of a Trade All order id
// (TradeAllOrderID); ok is false for an id that is not one.
func TradeAllRef(id string) (ref string, ok bool) {
	ref, _, ok = strings.Cut(id, "-")
	if !ok || ref == "" {
		return "", false
	}
	if _, ok := TradeAllAttempt(ref, id); !ok {
		return "", false
	}
	return ref, true
}

// TradeAllAttempt parses the attempt number of one of step ref's order ids
// (TradeAllOrderID); ok is false for an id that is not the step's.
func TradeAllAttempt(ref, id string) (attempt int, ok bool) {
	rest, ok := strings.CutPrefix(id, TradeAllPrefix(ref))
	if !ok {
		return 0, false
	}
	k, n, retry := strings.Cut(strings.TrimPrefix(rest, "r"), "-")
	if !strings.HasPrefix(rest, "r") || !retry {
		_, err := strconv.Atoi(rest)
		return 0, err == nil
	}
	a, err1 := strconv.Atoi(k)
	_, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || a <= 0 {
		return 0, false
	}
	return a, true
}
