package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
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
